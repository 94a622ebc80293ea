/** `npm run worker`: the Temporal worker, with /metrics, /healthz and /readyz on WORKER_HTTP_PORT. */
import { Runtime } from '@temporalio/worker';
import { runMain } from '../process/main';
import { loadConfig } from '../config';
import { freePort, startOpsServer } from '../http';
import { createLogger } from '../log';
import { createRegistry } from '../metrics';
import { onShutdownSignals } from '../process/signals';
import { temporalRuntimeLogger } from './runtime-logger';
import { startPipelineWorker } from './worker';

runMain(async () => {
  const config = loadConfig();
  const logger = createLogger('worker', config);
  const sdkMetricsPort = await freePort();
  Runtime.install({
    logger: temporalRuntimeLogger(logger),
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}`, countersTotalSuffix: true, useSecondsForDurations: true } },
    },
  });
  const registry = createRegistry('worker');
  const worker = await startPipelineWorker(config, logger, registry);
  const ops = await startOpsServer({
    port: config.http.workerPort,
    registry,
    readiness: worker.readiness,
    extraMetrics: () => fetch(`http://127.0.0.1:${sdkMetricsPort}/metrics`).then((r) => r.text()),
  });
  logger.info({ port: ops.port }, 'Serving /metrics, /healthz and /readyz');
  // Logged last, so that "running" means the probes answer too: supervisors and tests wait for this line.
  logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace }, 'Worker running');
  let stopping = false;
  onShutdownSignals(logger, async () => {
    stopping = true;
    await worker.shutdown();
    await ops.close();
    logger.info('Worker stopped');
  });
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
