/**
 * `npm run worker` on a machine with several CPUs: one worker process per CPU (WORKER_PROCESSES,
 * 'auto' by default), each a whole Temporal worker on the same task queue, so that batches use
 * every core (one Node process runs its JavaScript on one). This process only supervises them:
 *
 * - its /healthz, /readyz and /metrics on WORKER_HTTP_PORT speak for all of them: ready when every
 *   one is, their metrics in one exposition with a `worker_process` label;
 * - a signal stops them all gracefully; a second one stops them at once;
 * - one that fails before it ever ran (bad configuration) stops everything, with its sentence
 *   already printed; one that dies later is started again;
 * - they leave with it: a worker process whose supervisor is gone (even SIGKILLed) exits at once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Registry } from 'prom-client';
import type { Config } from '../config';
import { startOpsServer } from '../http';
import { createLogger } from '../log';
import { backoffDelay } from '../process/retry';
import { onSignals } from '../process/signals';
import { sleep, withDeadline } from '../process/wait';

interface Supervised {
  index: number;
  child: ChildProcess;
  /** Its /metrics port, once it said it runs. */
  port?: number;
  ranOnce: boolean;
  restarts: number;
}

/** What a worker process tells its supervisor. */
export interface WorkerProcessMessage {
  type: 'running';
  port: number;
}

const STOP_GRACE_MS = 60_000;

export async function superviseWorkers(config: Config, count: number): Promise<void> {
  const logger = createLogger('worker', config);
  let stopping = false;
  const processes: Supervised[] = [];
  const ops = await startOpsServer({
    port: config.http.workerPort,
    registry: new Registry(),
    readiness: () => readinessOf(processes),
    extraMetrics: () => metricsOf(processes),
  });
  logger.info({ port: ops.port, processes: count }, 'Serving /metrics, /healthz and /readyz for the worker processes');

  let announced = false;
  const start = (index: number, restarts = 0): Supervised => {
    const child = fork(process.argv[1]!, process.argv.slice(2), {
      env: { ...process.env, WORKER_PROCESS_INDEX: String(index), WORKER_HTTP_PORT: '0' },
      stdio: 'inherit',
    });
    const supervised: Supervised = { index, child, ranOnce: false, restarts };
    child.on('message', (message: WorkerProcessMessage) => {
      if (message?.type !== 'running') return;
      supervised.port = message.port;
      supervised.ranOnce = true;
      if (!announced && processes.every((p) => p.ranOnce)) {
        announced = true;
        // Logged once every process runs: supervisors and tests wait for this line.
        logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, processes: count }, 'Worker running');
      }
    });
    child.on('exit', (code, signal) => void onExit(supervised, code, signal));
    return supervised;
  };

  const onExit = async (supervised: Supervised, code: number | null, signal: NodeJS.Signals | null) => {
    if (stopping) return;
    if (!supervised.ranOnce) {
      logger.error({ workerProcess: supervised.index, code, signal }, 'A worker process failed to start; stopping the others');
      await stopAll('SIGTERM');
      process.exit(1);
    }
    const delayMs = backoffDelay(supervised.restarts, { initialMs: 1_000, maxMs: 30_000 });
    logger.warn({ workerProcess: supervised.index, code, signal, restartInMs: delayMs }, 'A worker process exited; starting it again');
    await sleep(delayMs);
    if (!stopping) processes[supervised.index] = start(supervised.index, supervised.restarts + 1);
  };

  const stopAll = async (signal: NodeJS.Signals) => {
    stopping = true;
    const exits = processes.map((p) => (p.child.exitCode === null && p.child.signalCode === null ? new Promise((r) => p.child.once('exit', r)) : Promise.resolve()));
    for (const p of processes) p.child.kill(signal);
    await withDeadline(Promise.all(exits), STOP_GRACE_MS, 'The worker processes stopping').catch(() => {
      for (const p of processes) p.child.kill('SIGKILL');
    });
  };

  onSignals(
    (signal) => {
      logger.info({ signal }, 'Stopping gracefully (send the signal again to exit at once)');
      void stopAll('SIGTERM').then(async () => {
        await ops.close();
        logger.info('Worker stopped');
        process.exit(0);
      });
    },
    (signal) => {
      logger.warn({ signal }, 'Second signal: exiting now');
      for (const p of processes) p.child.kill('SIGKILL');
      process.exit(130);
    },
  );
  for (let index = 0; index < count; index++) processes.push(start(index));
  await new Promise<void>(() => undefined); // runs until a signal, or a process that cannot start
}

/** Ready when every worker process is: each dependency true only when true in all of them. */
async function readinessOf(processes: Supervised[]): Promise<Record<string, boolean>> {
  const answers = await Promise.all(
    processes.map(async (p) => {
      if (p.port === undefined) return { running: false };
      const response = await fetch(`http://127.0.0.1:${p.port}/readyz`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      if (!response) return { running: false };
      return ((await response.json()) as { checks: Record<string, boolean> }).checks;
    }),
  );
  const checks: Record<string, boolean> = {};
  for (const answer of answers) for (const [name, ok] of Object.entries(answer)) checks[name] = (checks[name] ?? true) && ok;
  return checks;
}

/** Every worker process's metrics in one exposition, each sample labelled with its process. */
async function metricsOf(processes: Supervised[]): Promise<string> {
  const texts = await Promise.all(
    processes.map(async (p) => {
      if (p.port === undefined) return '';
      const response = await fetch(`http://127.0.0.1:${p.port}/metrics`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      return response ? labelled(await response.text(), p.index) : '';
    }),
  );
  return mergeExpositions(texts);
}

function labelled(text: string, index: number): string {
  const label = `worker_process="${index}"`;
  return text
    .split('\n')
    .map((line) => {
      if (line === '' || line.startsWith('#')) return line;
      const brace = line.indexOf('{');
      const space = line.indexOf(' ');
      return brace >= 0 && brace < space ? `${line.slice(0, brace + 1)}${label},${line.slice(brace + 1)}` : `${line.slice(0, space)}{${label}}${line.slice(space)}`;
    })
    .join('\n');
}

/**
 * Prometheus's text format wants each metric family once, its samples together: the families of
 * several expositions, in the order first seen, each with its HELP and TYPE once.
 */
export function mergeExpositions(texts: string[]): string {
  const families = new Map<string, { meta: string[]; samples: string[] }>();
  for (const text of texts) {
    let current: { meta: string[]; samples: string[] } | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        const name = meta[2]!;
        let family = families.get(name);
        if (!family) families.set(name, (family = { meta: [], samples: [] }));
        if (!family.meta.some((m) => m.startsWith(`# ${meta[1]} `))) family.meta.push(line);
        current = family;
      } else if (current) {
        current.samples.push(line);
      }
    }
  }
  return [...families.values()].map((f) => [...f.meta, ...f.samples].join('\n')).join('\n') + '\n';
}
