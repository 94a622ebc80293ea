/**
 * A worker engine: a child process of the worker that does the batch and summary work (read,
 * transform, aggregate, publish) on its own Kafka and Redis clients, for the Temporal worker in
 * its parent (src/worker/pool.ts). One Node process runs its JavaScript on one core; the engines
 * put the per-record work on every core while one Temporal worker keeps one set of pollers.
 *
 * It answers its parent over IPC (messages below) and leaves with it: when the parent is gone,
 * even SIGKILLed, the IPC channel closes and the engine exits at once (and should its event loop
 * be stuck then, its watchdog thread kills it: src/process/watchdog.ts).
 */
// First: these two must be loaded before kafkajs (see there).
import { warnIfGroupingLoadedLate } from '../clients/kafkajs-grouping';
import '../clients/kafkajs-transaction-partitions';
import { ApplicationFailure } from '@temporalio/common';
import { loadConfig } from '../config';
import { createTracing, withRemoteParent } from '../clients/tracing';
import { createLogger } from '../log';
import { createRegistry, createWorkerMetrics } from '../metrics';
import { runMain } from '../process/main';
import { startWatchdog } from '../process/watchdog';
import { createWorkerClients, createWorkerWork, type WorkerWork } from './clients';
import { warmUp } from './warm-up';
import { installRequestQueueFix } from '../clients/kafkajs-request-queue';

/** The work an engine does, by name, with its arguments but the cancellation signal. */
export type EngineOperation = 'processRanges' | 'handleBatch' | 'publishSummary';

export type EngineRequest =
  | { type: 'call'; id: number; op: EngineOperation; args: unknown[]; traceparent?: string }
  | { type: 'cancel'; id: number }
  /** The key's (a lane's) calls go to another engine from now on: drop its producer. */
  | { type: 'forget'; key: string }
  | { type: 'metrics'; id: number }
  | { type: 'readiness'; id: number };

export type EngineReply =
  | { type: 'ready' }
  | { type: 'result'; id: number; value: unknown }
  /** A call's batch has published this many more of its records: what is left of it, for the choice of engine. */
  | { type: 'progress'; id: number; records: number }
  | { type: 'failure'; id: number; failure: SerializedFailure };

/** An error as it crosses the process boundary: enough to throw the same kind on the other side. */
export interface SerializedFailure {
  name: string;
  message: string;
  /** Set for an ApplicationFailure (its type, and whether Temporal may retry it). */
  application?: { type?: string; nonRetryable: boolean };
}

export function serializeFailure(err: unknown): SerializedFailure {
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    name: error.name,
    message: error.message,
    application: error instanceof ApplicationFailure ? { type: error.type ?? undefined, nonRetryable: error.nonRetryable === true } : undefined,
  };
}

if (require.main === module) {
  installRequestQueueFix();
  runMain(async () => {
    const config = loadConfig();
    const logger = createLogger('worker', config).child({ engine: config.worker.processIndex });
    warnIfGroupingLoadedLate(logger);
    process.on('disconnect', () => process.exit(1));
    // What 'disconnect' cannot do when this loop is stuck, and a stuck loop itself.
    startWatchdog({ name: `worker engine ${config.worker.processIndex ?? 0}`, stallSeconds: config.watchdog.stallSeconds, parentPid: process.ppid });
    const registry = createRegistry('worker', { processMetricsPrefix: 'lp_engine_' });
    // The age of the latest summary is the parent's to compute, over all engines.
    const metrics = createWorkerMetrics(registry);
    // Off unless OTEL_* names an endpoint: then a batch's spans continue its activity's trace.
    const tracing = createTracing(config, 'worker');
    const clients = createWorkerClients(config, logger);
    await clients.admin.connect();
    clients.prepare();
    logger.debug({ ms: Math.round(await warmUp(config)) }, 'Rehearsed the record path');
    const work = createWorkerWork(clients, config, metrics);
    const cancels = new Map<number, AbortController>();
    const reply = (message: EngineReply) => process.send?.(message);
    process.on('message', (request: EngineRequest) => {
      switch (request.type) {
        case 'call': {
          const cancel = new AbortController();
          cancels.set(request.id, cancel);
          const onChunkDone = (records: number) => reply({ type: 'progress', id: request.id, records });
          withRemoteParent(tracing?.tracer, request.traceparent, `engine:${request.op}`, () => call(work, request.op, request.args, cancel.signal, onChunkDone)).then(
            (value) => reply({ type: 'result', id: request.id, value }),
            (err: unknown) => reply({ type: 'failure', id: request.id, failure: serializeFailure(err) }),
          ).finally(() => cancels.delete(request.id));
          return;
        }
        case 'cancel':
          cancels.get(request.id)?.abort();
          return;
        case 'forget':
          clients.transactions.forget(request.key);
          return;
        case 'metrics':
          void registry.getMetricsAsJSON().then((value) => reply({ type: 'result', id: request.id, value }));
          return;
        case 'readiness':
          // Kafka's answer is the worker's to watch (src/worker/worker.ts); its engines share its brokers.
          reply({ type: 'result', id: request.id, value: { redis: clients.redis.status === 'ready' } });
          return;
      }
    });
    process.on('SIGTERM', () => void Promise.allSettled([clients.close(), tracing?.shutdown()]).finally(() => process.exit(0)));
    reply({ type: 'ready' });
    await new Promise<void>(() => undefined);
  });
}

function call(work: WorkerWork, op: EngineOperation, args: unknown[], signal: AbortSignal, onChunkDone: (records: number) => void): Promise<unknown> {
  switch (op) {
    case 'processRanges':
      return work.processRanges(...(args as [Parameters<WorkerWork['processRanges']>[0], number]), signal, onChunkDone);
    case 'handleBatch':
      return work.handleBatch(...(args as [Parameters<WorkerWork['handleBatch']>[0], Uint8Array, number]), signal);
    case 'publishSummary':
      return work.publishSummary(...(args as [number, number]));
  }
}
