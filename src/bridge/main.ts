/**
 * `npm run bridge`: the Kafka → Temporal bridge, with /metrics, /healthz and /readyz on
 * BRIDGE_HTTP_PORT. Started before Kafka or Temporal answer, it says which does not and waits.
 * The circuit breaker's state is at GET /breaker; POST /breaker/resume or SIGUSR2 resumes a
 * paused input, and `npm run bridge -- --resume` asks a running bridge to (src/bridge/resume.ts).
 */
import type { Client } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import { Dependencies } from '../clients/availability';
import { kafkaDependency, temporalDependency } from '../clients/dependencies';
import { warnAboutHorizons } from '../clients/horizons';
import { createKafka } from '../clients/kafka';
import { createTracing, type Tracing } from '../clients/tracing';
import { ensureSearchAttributes } from '../clients/search-attributes';
import { connectClient, temporalAnswers } from '../clients/temporal';
import { deadLetterRoomWarning, ensureTopics } from '../clients/topics';
import { loadConfig, type Config } from '../config';
import { CancelledError } from '../errors';
import { startOpsServer } from '../http';
import { createLogger, type Logger } from '../log';
import { createBridgeMetrics, createRegistry } from '../metrics';
import { runMain } from '../process/main';
import { startWatchdog } from '../process/watchdog';
import { retry } from '../process/retry';
import { onRequestSignal, onShutdownSignals } from '../process/signals';
import { Bridge } from './bridge';
import { BREAKER_OFF } from './breaker';
import { resumeCommand } from './resume';
import { installRequestQueueFix } from '../clients/kafkajs-request-queue';

installRequestQueueFix();
runMain(async () => {
  const config = loadConfig();
  if (process.argv.includes('--resume')) return resumeCommand(config, process.argv.slice(2));
  const logger = createLogger('bridge', config);
  startWatchdog({ name: 'bridge', stallSeconds: config.watchdog.stallSeconds });
  const registry = createRegistry('bridge');
  const metrics = createBridgeMetrics(registry);
  // Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set.
  const tracing = createTracing(config, 'bridge');
  const dependencies = new Dependencies([kafkaDependency(config), temporalDependency(config)], logger);
  let running: { bridge: Bridge; client: Client; admin: Admin } | undefined;
  const resume = (by: string) => running?.bridge.resumeInput(by) ?? false;
  const ops = await startOpsServer({
    port: config.http.bridgePort,
    registry,
    readiness: async () => (running ? { ...running.bridge.readiness(), temporal: await temporalAnswers(running.client) } : dependencies.readiness()),
    routes: {
      'GET /breaker': async () => ({ status: 200, body: running?.bridge.breakerState() ?? BREAKER_OFF }),
      'POST /breaker/resume': async () => ({ status: 200, body: { resumed: resume('POST /breaker/resume'), state: running?.bridge.breakerState() ?? BREAKER_OFF } }),
    },
  });
  onRequestSignal('SIGUSR2', () => resume('SIGUSR2'));
  const url = config.http.bridgePort === ops.port ? '' : ` --url http://127.0.0.1:${ops.port}`;
  const resumeHint = `\`npm run bridge -- --resume${url}\` (or POST /breaker/resume on port ${ops.port}, or kill -USR2 ${process.pid})`;
  logger.info({ port: ops.port }, 'Serving /metrics, /healthz, /readyz and /breaker');
  const stopSignal = new AbortController();
  const stop = async () => {
    stopSignal.abort();
    if (running) {
      await running.bridge.stop();
      await running.admin.disconnect().catch(() => undefined);
      await running.client.connection.close();
    }
    await tracing?.shutdown().catch(() => undefined);
    await ops.close();
    logger.info('Bridge stopped');
  };
  onShutdownSignals(logger, stop);
  try {
    await dependencies.waitForAll(stopSignal.signal);
    running = await retry(() => startBridge(config, logger, metrics, resumeHint, tracing), {
      initialMs: 1_000,
      maxMs: 15_000,
      signal: stopSignal.signal,
      onRetry: (err, _attempt, retryInMs) => logger.warn({ err, retryInMs }, 'Starting the bridge failed; retrying'),
    });
  } catch (err) {
    if (err instanceof CancelledError) return new Promise<void>(() => undefined); // the signal handler exits
    throw err;
  }
  logger.info({ topic: config.kafka.inputTopic, groupId: config.kafka.groupId, taskQueue: config.temporal.taskQueue, runId: running.bridge.runId }, 'Bridge running');
  const err = await running.bridge.fatal;
  await stop().catch(() => undefined);
  throw err;
});

async function startBridge(
  config: Config,
  logger: Logger,
  metrics: ReturnType<typeof createBridgeMetrics>,
  resumeHint: string,
  tracing: Tracing | undefined,
): Promise<{ bridge: Bridge; client: Client; admin: Admin }> {
  const kafka = createKafka(config.kafka, { logger });
  // The worker creates the output topics; the bridge the input, so that it can join its group.
  await ensureTopics(kafka, [config.kafka.inputTopic]);
  const admin = kafka.admin();
  await admin.connect();
  const client = await connectClient(config.temporal, { tracer: tracing?.tracer });
  try {
    await ensureSearchAttributes(client, config.temporal.namespace, logger);
    await warnAboutHorizons(admin, client, { topic: config.kafka.inputTopic, groupId: config.kafka.groupId, namespace: config.temporal.namespace }, logger);
    const room = await deadLetterRoomWarning(kafka, config.kafka.inputTopic, config.kafka.dlqTopic);
    if (room) logger.warn({ inputTopic: config.kafka.inputTopic, dlqTopic: config.kafka.dlqTopic }, room);
    const bridge = new Bridge({ kafka, admin, client, config, logger, metrics, resumeHint, tracer: tracing?.tracer });
    await bridge.start();
    return { bridge, client, admin };
  } catch (err) {
    await admin.disconnect().catch(() => undefined);
    await client.connection.close().catch(() => undefined);
    throw err;
  }
}
