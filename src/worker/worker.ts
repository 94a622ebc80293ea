/**
 * The Temporal worker: the batch and insights workflows and their activities on
 * TEMPORAL_TASK_QUEUE. It owns every client (Kafka producer, Redis, Temporal) and closes them
 * on shutdown.
 */
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Producer } from 'kafkajs';
import { FastJavaCompatiblePartitioner } from '../clients/partitioner';
import type Redis from 'ioredis';
import type { Registry } from 'prom-client';
import { createBatchActivities } from '../activities/batch';
import { createInsightsActivities } from '../activities/insights';
import { createKafka } from '../clients/kafka';
import { createRedis } from '../clients/redis';
import { connectNative } from '../clients/temporal';
import { deadLetterTopicLimit, ensureTopics } from '../clients/topics';
import type { Config } from '../config';
import { createInsightsStore } from '../insights/store';
import type { Logger } from '../log';
import { createWorkerMetrics, registerSummaryAge } from '../metrics';
import { workflowSource } from './bundle';
import { ensureInsightsWorkflow } from './insights';
import { ensureSearchAttributes } from './search-attributes';

export interface RunningWorker {
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  done: Promise<void>;
  shutdown(): Promise<void>;
  readiness(): Promise<Record<string, boolean>>;
}

export async function startPipelineWorker(config: Config, logger: Logger, registry?: Registry): Promise<RunningWorker> {
  const metrics = registry ? createWorkerMetrics(registry) : undefined;
  if (registry && metrics) registerSummaryAge(registry, metrics);
  const kafka = createKafka(config.kafka, { logger });
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: FastJavaCompatiblePartitioner,
    retry: { retries: 5, initialRetryTime: 300 },
  });
  let producerConnected = false;
  producer.on(producer.events.CONNECT, () => (producerConnected = true));
  producer.on(producer.events.DISCONNECT, () => (producerConnected = false));
  const redis = createRedis(config.redis);
  redis.on('error', (err: Error) => logger.warn({ err }, 'Redis connection error; retrying'));
  let connection: NativeConnection | undefined;
  try {
    const dlqLimit = await deadLetterTopicLimit(kafka, config.kafka.inputTopic);
    await ensureTopics(kafka, [config.kafka.outputTopic, { topic: config.kafka.dlqTopic, maxMessageBytes: dlqLimit }]);
    await producer.connect();
    connection = await connectNative(config.temporal);
    const client = new Client({ connection, namespace: config.temporal.namespace });
    await ensureSearchAttributes(client, config.temporal.namespace, logger);
    const store = createInsightsStore(redis, config);
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      ...workflowSource(),
      activities: {
        ...createBatchActivities({ producer, store, config, metrics }),
        ...createInsightsActivities({ producer, store, config, metrics }),
      },
      maxConcurrentLocalActivityExecutions: config.worker.maxConcurrentBatches,
      maxConcurrentWorkflowTaskExecutions: Math.max(2, config.worker.maxConcurrentBatches),
      // A batch workflow never returns to its worker (it completes in its first task), so most
      // pollers belong on the normal queue, not on the sticky one that the default favours 4:1.
      maxConcurrentWorkflowTaskPolls: 10,
      nonStickyToStickyPollRatio: 0.8,
      maxConcurrentActivityTaskExecutions: 4,
      // Batch workflows finish in one task: a small cache is all the insights workflow needs.
      maxCachedWorkflows: Math.max(4, config.worker.maxConcurrentBatches * 2),
      shutdownGraceTime: '20 seconds',
    });
    const done = worker.run().finally(() => closeClients(producer, redis, connection!, logger));
    const conn = connection;
    void ensureInsightsWorkflow(client, config, logger).catch((err: unknown) =>
      logger.error({ err }, 'Could not start the insights workflow'),
    );
    return {
      done,
      shutdown: async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await done;
      },
      readiness: async () => ({
        temporal: worker.getState() === 'RUNNING' && (await conn.healthService.check({}).then(() => true, () => false)),
        kafka: producerConnected,
        redis: redis.status === 'ready',
      }),
    };
  } catch (err) {
    await closeClients(producer, redis, connection, logger);
    throw err;
  }
}

async function closeClients(producer: Producer, redis: Redis, connection: NativeConnection | undefined, logger: Logger): Promise<void> {
  await Promise.allSettled([producer.disconnect(), redis.quit().catch(() => redis.disconnect()), connection?.close()]);
  logger.info('Worker clients closed');
}
