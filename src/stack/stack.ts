/** `stack:up`, `stack:down`, `stack:status`: the local Kafka, Temporal (with Web UI) and Redis. */
import type { Config } from '../config';
import { StackStartError } from '../errors';
import { becomesTrue } from '../process/wait';
import { ensureDebianPackages, type DebianPackage } from './apt';
import { kafkaService } from './kafka';
import { stackLayout, startLock, type StackLayout } from './layout';
import { withLock } from './lock';
import { allOrAbort, interruptible } from './provision';
import { runningPid, stopGracefully } from './proc';
import { redisService } from './redis';
import type { Service } from './service';
import { temporalService } from './temporal';

export function stackServices(config: Config): Service[] {
  const layout = stackLayout(config);
  return [kafkaService(config, layout), temporalService(config, layout), redisService(config, layout)];
}

export type ServiceState = 'reused' | 'started' | 'already-ours';

export interface StackUpOptions {
  /** Debian packages the command needs besides the stack's (chromium for the tests), installed in the same apt transaction. */
  packages?: DebianPackage[];
}

/**
 * Brings every service up, reusing what already answers; resolves once all are healthy. First
 * everything missing is installed side by side (one apt transaction, Kafka's jars, the Temporal
 * CLI), then the services start: a failed or interrupted installation starts nothing, and leaves
 * nothing running.
 */
export async function stackUp(
  config: Config,
  report: (line: string) => void = console.log,
  options: StackUpOptions = {},
): Promise<Map<string, ServiceState>> {
  const services = stackServices(config);
  const healthy = await Promise.all(services.map((s) => s.isHealthy()));
  const toStart = services.filter((s, i) => !healthy[i] && runningPid(s.proc) === undefined);
  await prepareServices(config, toStart, options.packages ?? []);
  const layout = stackLayout(config);
  const states = await Promise.all(
    services.map(async (service, i) => {
      const state = healthy[i] ? (runningPid(service.proc) ? 'already-ours' : 'reused') : await bringUp(config, layout, service);
      if (state !== 'reused') await service.configure?.();
      for (const { label, address } of addresses(service)) report(`${label.padEnd(16)} ${address}  (${state})`);
      return state;
    }),
  );
  return new Map(services.map((s, i) => [s.name, states[i]!]));
}

/**
 * Installs what the services run from: their Debian packages and `packages` in one apt
 * transaction, side by side with their downloads and builds. Ctrl-C stops it all in order; the
 * first failure stops the rest; either way it settles only when nothing it started still runs.
 */
export async function prepareServices(config: Config, services: Service[], packages: DebianPackage[] = []): Promise<void> {
  const needed = [...services.flatMap((s) => s.packages ?? []), ...packages];
  await interruptible('Provisioning', (signal) =>
    allOrAbort(
      [(sig) => ensureDebianPackages(config, needed, { signal: sig }), ...services.map((s) => (sig: AbortSignal) => s.install?.(sig) ?? Promise.resolve())],
      signal,
    ),
  );
}

/** Starts a service (once, when two commands race to) and waits until it answers. */
async function bringUp(config: Config, layout: StackLayout, service: Service): Promise<ServiceState> {
  const state = await withLock(
    startLock(layout, service.proc),
    `starting ${service.label}`,
    async (): Promise<ServiceState> => {
      if (runningPid(service.proc) !== undefined) return 'already-ours';
      // Another program may have started one meanwhile (an apt install that starts its service).
      if (await service.isHealthy()) return 'reused';
      await service.start();
      return 'started';
    },
    { searchPath: config.stack.searchPath },
  );
  const healthy = await becomesTrue(() => service.isHealthy(), service.startTimeoutMs, 300);
  if (!healthy) {
    const stillRunning = runningPid(service.proc) !== undefined;
    throw new StackStartError(
      `${service.label} did not become healthy at ${service.address} within ${service.startTimeoutMs / 1000} s` +
        (stillRunning ? '' : ': the process exited'),
      service.proc.logFile,
    );
  }
  return state;
}

function addresses(service: Service): { label: string; address: string }[] {
  return [{ label: service.label, address: service.address }, ...(service.extraAddresses ?? [])];
}

/** Stops what `up` started, by pid, gracefully; leaves anything else alone. */
export async function stackDown(config: Config, report: (line: string) => void = console.log): Promise<void> {
  // Reverse order: clients of Kafka inside Temporal are none, but stopping Redis and Temporal first keeps Kafka's controlled shutdown quick.
  for (const service of stackServices(config).reverse()) {
    const outcome = await stopGracefully(service.proc, 30_000);
    report(`${service.label.padEnd(16)} ${outcome}`);
  }
}

export async function stackStatus(config: Config, report: (line: string) => void = console.log): Promise<boolean> {
  const services = stackServices(config);
  const rows = await Promise.all(
    services.map(async (service) => {
      const healthy = await service.isHealthy();
      const pid = runningPid(service.proc);
      const owner = pid ? `pid ${pid}, started by this stack` : healthy ? 'not started by this stack' : '';
      return { service, healthy, owner };
    }),
  );
  for (const { service, healthy, owner } of rows) {
    for (const { label, address } of addresses(service)) {
      report(`${label.padEnd(16)} ${address.padEnd(24)} ${healthy ? 'up' : 'down'}${owner ? `  (${owner})` : ''}`);
    }
  }
  return rows.every((r) => r.healthy);
}
