/**
 * `npm run worker`: the Temporal worker, with /metrics, /healthz and /readyz on WORKER_HTTP_PORT.
 * Started before Kafka, Temporal or Redis answer, it says which does not and waits for them. On a
 * machine with several CPUs its batches run in one engine process per CPU (src/worker/pool.ts).
 */
// First: these two must be loaded before kafkajs (see there).
import { warnIfGroupingLoadedLate } from '../clients/kafkajs-grouping';
import '../clients/kafkajs-transaction-partitions';
import { Runtime } from '@temporalio/worker';
import { Dependencies } from '../clients/availability';
import { kafkaDependency, redisDependency, temporalDependency } from '../clients/dependencies';
import { createTracing } from '../clients/tracing';
import { loadConfig } from '../config';
import { CancelledError } from '../errors';
import { freePort, startOpsServer } from '../http';
import { createLogger } from '../log';
import { createRegistry } from '../metrics';
import { runMain } from '../process/main';
import { startWatchdog } from '../process/watchdog';
import { retry } from '../process/retry';
import { onShutdownSignals } from '../process/signals';
import { temporalRuntimeLogger } from './runtime-logger';
import { workerEngines } from './capacity';
import { startPipelineWorker, type RunningWorker } from './worker';
import { installRequestQueueFix } from '../clients/kafkajs-request-queue';

installRequestQueueFix();
runMain(async () => {
  const config = loadConfig();
  const logger = createLogger('worker', config);
  warnIfGroupingLoadedLate(logger);
  startWatchdog({ name: 'worker', stallSeconds: config.watchdog.stallSeconds });
  const sdkMetricsPort = await freePort();
  Runtime.install({
    logger: temporalRuntimeLogger(logger),
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}`, countersTotalSuffix: true, useSecondsForDurations: true } },
    },
  });
  const registry = createRegistry('worker');
  // Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set.
  const tracing = createTracing(config, 'worker');
  const dependencies = new Dependencies([kafkaDependency(config), temporalDependency(config), redisDependency(config)], logger);
  let worker: RunningWorker | undefined;
  const ops = await startOpsServer({
    port: config.http.workerPort,
    registry,
    readiness: () => worker?.readiness() ?? Promise.resolve(dependencies.readiness()),
    extraMetrics: async () => {
      const sdk = await fetch(`http://127.0.0.1:${sdkMetricsPort}/metrics`).then((r) => r.text());
      return `${(await worker?.metrics()) ?? ''}\n${sdk}`;
    },
  });
  logger.info({ port: ops.port }, 'Serving /metrics, /healthz and /readyz');
  const stop = new AbortController();
  let stopping = false;
  onShutdownSignals(logger, async () => {
    stopping = true;
    stop.abort();
    await worker?.shutdown();
    await tracing?.shutdown().catch(() => undefined);
    await ops.close();
    logger.info('Worker stopped');
  });
  try {
    await dependencies.waitForAll(stop.signal);
    // A service that goes away between its probe and the worker's start is waited for again.
    const engines = workerEngines(config.worker);
    worker = await retry(() => startPipelineWorker(config, logger, registry, { engines, tracing }), {
      initialMs: 1_000,
      maxMs: 15_000,
      signal: stop.signal,
      onRetry: (err, _attempt, retryInMs) => logger.warn({ err, retryInMs }, 'Starting the worker failed; retrying'),
    });
  } catch (err) {
    if (err instanceof CancelledError) return new Promise<void>(() => undefined); // the signal handler exits
    throw err;
  }
  // Logged last, so that "running" means the probes answer too: supervisors and tests wait for this line.
  logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, engines: worker.engines, batchesAtOnce: worker.batchesAtOnce }, 'Worker running');
  try {
    await worker.done;
  } catch (err) {
    logger.error({ err }, 'Worker stopped with an error');
    await ops.close();
    throw err;
  }
  // Stopped without being asked to (the SDK gave up): say so and exit non-zero for the supervisor.
  if (!stopping) {
    await ops.close();
    logger.error('Worker stopped unexpectedly');
    return 1;
  }
});
