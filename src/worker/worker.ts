/**
 * The Temporal worker: the batch, insights and dead-letter replay workflows and their activities
 * on TEMPORAL_TASK_QUEUE. It owns every client (Kafka, Redis, Temporal) and closes them on shutdown.
 */
import { Client } from '@temporalio/client';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Admin } from 'kafkajs';
import { Registry } from 'prom-client';
import { checkRedisKeepsKeys, warnAboutHorizons } from '../clients/horizons';
import { kafkaAddress } from '../clients/kafka';
import { redisAddress, type RedisClient } from '../clients/redis';
import { ensureSearchAttributes } from '../clients/search-attributes';
import type { Tracing } from '../clients/tracing';
import { connectNative } from '../clients/temporal';
import { deadLetterTopicLimit, ensureReplayLog, ensureTopics } from '../clients/topics';
import { replayLogTopic } from '../domain/replay';
import type { Config } from '../config';
import type { Logger } from '../log';
import { createWorkerMetrics, registerSummaryAge } from '../metrics';
import { repeat } from '../process/repeat';
import { withDeadline } from '../process/wait';
import { workflowSource } from './bundle';
import { createWorkerActivities, createWorkerClients, createWorkerReplayActivities } from './clients';
import { batchesAtOnce } from './capacity';
import { EnginePool } from './pool';
import { ensureInsightsWorkflow } from './insights';

export interface RunningWorker {
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  done: Promise<void>;
  shutdown(): Promise<void>;
  readiness(): Promise<Record<string, boolean>>;
  /** Metrics of the work done elsewhere (its engines'), for /metrics. */
  metrics(): Promise<string>;
  /** Engine processes running its batches; 0 when it runs them itself. */
  engines: number;
  /** Batches it runs at once (WORKER_MAX_CONCURRENT_BATCHES, resolved). */
  batchesAtOnce: number;
}

export interface PipelineWorkerOptions {
  /** Engine processes to run batches in (src/worker/pool.ts); 0 runs them in this process. */
  engines: number;
  /** Set when tracing is on (src/clients/tracing.ts). */
  tracing?: Tracing;
}

export async function startPipelineWorker(config: Config, logger: Logger, registry?: Registry, options: PipelineWorkerOptions = { engines: 0 }): Promise<RunningWorker> {
  // With engines, the batch work and its metrics are theirs; the replays this process runs count
  // on a registry of its own that pool.metrics() adds to the engines' (one name, one series).
  const pool = options.engines > 0 ? new EnginePool(options.engines, logger) : undefined;
  const atOnce = batchesAtOnce(config.worker, options.engines);
  const ownRegistry = pool ? new Registry() : registry;
  const metrics = ownRegistry ? createWorkerMetrics(ownRegistry) : undefined;
  if (!pool && registry && metrics) registerSummaryAge(registry, metrics);
  const clients = createWorkerClients(config, logger);
  const { kafka, admin, redis } = clients;
  const closing = new AbortController();
  reportRedisOutages(redis, redisAddress(config.redis), logger);
  let connection: NativeConnection | undefined;
  const close = async () => {
    closing.abort();
    await Promise.allSettled([clients.close(), connection?.close(), pool?.close()]);
    logger.info('Worker clients closed');
  };
  try {
    await admin.connect();
    // The batches run here when there are no engines: connect what they use before they come.
    if (!pool) clients.prepare();
    const kafkaUp = watchKafka(admin, kafkaAddress(config.kafka), logger, closing.signal);
    await checkRedisKeepsKeys(redis, redisAddress(config.redis), logger);
    const dlqLimit = await deadLetterTopicLimit(kafka, config.kafka.inputTopic);
    await ensureTopics(kafka, [config.kafka.outputTopic, { topic: config.kafka.dlqTopic, maxMessageBytes: dlqLimit }]);
    // After the DLQ, whose partition count it takes: `npm run dlq -- replay` writes to it.
    await ensureReplayLog(kafka, config.kafka.dlqTopic, replayLogTopic(config.kafka.dlqTopic));
    connection = await connectNative(config.temporal);
    const client = new Client({ connection, namespace: config.temporal.namespace });
    await ensureSearchAttributes(client, config.temporal.namespace, logger);
    await warnAboutHorizons(admin, client, { topic: config.kafka.inputTopic, groupId: config.kafka.groupId, namespace: config.temporal.namespace }, logger);
    await pool?.ready();
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      ...tracingOptions(options.tracing),
      activities: pool ? { ...pool.activities(), ...createWorkerReplayActivities(clients, config, metrics) } : createWorkerActivities(clients, config, metrics),
      maxConcurrentLocalActivityExecutions: atOnce,
      // A batch's workflow task stays open while its local activity runs. With as many task slots
      // as batches, fewer batches ran than allowed (3 of 4 in a trace), and a waiting batch's task
      // was picked up only when a slot freed, up to 1.5 s after its start at full load.
      maxConcurrentWorkflowTaskExecutions: atOnce * 2 + 2,
      // A batch workflow never returns to its worker (it completes in its first task), so most
      // pollers belong on the normal queue, not on the sticky one that the default favours 4:1.
      maxConcurrentWorkflowTaskPolls: 10,
      nonStickyToStickyPollRatio: 0.8,
      maxConcurrentActivityTaskExecutions: 4,
      // Batch workflows finish in one task: a small cache is all the insights workflow needs.
      maxCachedWorkflows: Math.max(4, atOnce * 2),
      shutdownGraceTime: '20 seconds',
    });
    const done = worker.run().finally(close);
    const conn = connection;
    void ensureInsightsWorkflow(client, config, logger).catch((err: unknown) => logger.error({ err }, 'Could not start the insights workflow'));
    return {
      done,
      shutdown: async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await done;
      },
      readiness: async () => {
        const own = {
          temporal: worker.getState() === 'RUNNING' && (await conn.healthService.check({}).then(() => true, () => false)),
          kafka: kafkaUp(),
          redis: redis.status === 'ready',
        };
        return pool ? pool.readiness(own) : own;
      },
      metrics: async () => (pool && ownRegistry ? pool.metrics(await ownRegistry.getMetricsAsJSON()) : ''),
      engines: options.engines,
      batchesAtOnce: atOnce,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The workflow code and, with tracing, Temporal's OpenTelemetry interceptors: the traced bundle's
 * workflow spans leave through the `exporter` sink, the activity's span continues the workflow's.
 */
function tracingOptions(tracing: Tracing | undefined): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'interceptors' | 'sinks'> {
  const source = workflowSource(tracing !== undefined);
  if (!tracing) return source;
  const { tracer } = tracing;
  return {
    ...source,
    interceptors: {
      ...('interceptors' in source ? source.interceptors : {}),
      activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }) })],
    },
    sinks: { exporter: makeWorkflowExporter(tracing.processor, tracing.resource) },
  };
}

/** How often an idle worker asks Kafka whether it answers, and how long it waits for the answer. */
const KAFKA_WATCH_INTERVAL_MS = 5_000;
const KAFKA_WATCH_TIMEOUT_MS = 5_000;

/**
 * One line when Kafka stops answering and one when it is back, and /readyz's `kafka`: asked
 * periodically, so that a worker with no batch under way notices an outage too (a kafkajs client
 * stays "connected" through one).
 */
function watchKafka(admin: Admin, address: string, logger: Logger, signal: AbortSignal): () => boolean {
  let up = true;
  void repeat(
    async () => {
      await withDeadline(admin.describeCluster(), KAFKA_WATCH_TIMEOUT_MS, `Asking Kafka at ${address} for its brokers`);
      up = true;
    },
    {
      intervalMs: KAFKA_WATCH_INTERVAL_MS,
      signal,
      backoff: { initialMs: KAFKA_WATCH_INTERVAL_MS, maxMs: KAFKA_WATCH_INTERVAL_MS },
      onError: (err, failures) => {
        up = false;
        if (failures === 1) logger.warn({ err }, `Kafka does not answer at ${address}; batches wait and are retried`);
      },
      onRecovered: () => logger.info(`Kafka answers again at ${address}`),
    },
  );
  return () => up;
}

/** One line when Redis stops answering and one when it is back, not one per reconnection attempt. */
function reportRedisOutages(redis: RedisClient, address: string, logger: Logger): void {
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) logger.warn({ err }, `Redis does not answer at ${address}; retrying`);
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info(`Redis answers again at ${address}`);
    down = false;
  });
}
