/** `stack:up`, `stack:down`, `stack:status`: the local Kafka, Temporal (with Web UI) and Redis. */
import type { Config } from '../config';
import { StackStartError } from '../errors';
import { kafkaService } from './kafka';
import { stackLayout } from './layout';
import { becomesTrue } from '../process/wait';
import { runningPid, stopGracefully } from './proc';
import { redisService } from './redis';
import type { Service } from './service';
import { temporalService } from './temporal';

export function stackServices(config: Config): Service[] {
  const layout = stackLayout(config);
  return [kafkaService(config, layout), temporalService(config, layout), redisService(config, layout)];
}

export type ServiceState = 'reused' | 'started' | 'already-ours';

/** Brings every service up, reusing what already answers; resolves once all are healthy. */
export async function stackUp(config: Config, report: (line: string) => void = console.log): Promise<Map<string, ServiceState>> {
  const services = stackServices(config);
  const states = new Map<string, ServiceState>();
  await Promise.all(
    services.map(async (service) => {
      states.set(service.name, await bringUp(service));
      for (const { label, address } of addresses(service)) report(`${label.padEnd(16)} ${address}  (${states.get(service.name)})`);
    }),
  );
  return states;
}

async function bringUp(service: Service): Promise<ServiceState> {
  if (await service.isHealthy()) return runningPid(service.proc) ? 'already-ours' : 'reused';
  const ours = runningPid(service.proc) !== undefined;
  if (!ours) {
    await service.install();
    await service.start();
  }
  const healthy = await becomesTrue(() => service.isHealthy(), service.startTimeoutMs, 300);
  if (!healthy) {
    const stillRunning = runningPid(service.proc) !== undefined;
    throw new StackStartError(
      `${service.label} did not become healthy at ${service.address} within ${service.startTimeoutMs / 1000} s` +
        (stillRunning ? '' : ': the process exited'),
      service.proc.logFile,
    );
  }
  return ours ? 'already-ours' : 'started';
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
