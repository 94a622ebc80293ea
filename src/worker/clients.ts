/**
 * The clients a worker owns (Kafka admin, range reader, lane producers, Redis) and the
 * activities built from them: one construction for the worker process and for tests that run
 * the activities in a worker of their own.
 */
import type { Admin, Kafka } from 'kafkajs';
import { batchActivities, createBatchWork } from '../activities/batch';
import { IncarnationCheck } from '../activities/incarnation';
import { createInsightsActivities } from '../activities/insights';
import { createReplayActivities } from '../activities/replay';
import { ClusterConnection, createKafka } from '../clients/kafka';
import { RangeReader } from '../clients/range-reader';
import { ReplayLog } from '../clients/replay-log';
import { createRedis, redisCommandTimeoutMs, type RedisClient } from '../clients/redis';
import { installFastProduceEncoding } from '../clients/produce-encoding';
import { LaneTransactions } from '../clients/transactions';
import type { Config } from '../config';
import { createInsightsStore, type InsightsStore } from '../insights/store';
import type { Logger } from '../log';
import type { WorkerMetrics } from '../metrics';

/** Keep each produce request well under the broker's default 1 MB message.max.bytes. */
const MAX_REQUEST_BYTES = 512 * 1024;
/** Longer than any attempt at a chunk; the broker aborts what a dead worker left open after this. */
const TRANSACTION_TIMEOUT_MS = 60_000;
/** A lane's producer unused this long is closed: its bridge has moved on, or stopped. */
const LANE_IDLE_MS = 120_000;

export interface WorkerClients {
  kafka: Kafka;
  admin: Admin;
  redis: RedisClient;
  reader: RangeReader;
  /** What the replay logs say was replayed, read incrementally (src/clients/replay-log.ts). */
  replayLog: ReplayLog;
  transactions: LaneTransactions;
  /** Each batch's check that its partitions are the ones it was cut from. */
  incarnations: IncarnationCheck;
  store: InsightsStore;
  /** Starts connecting the reader and the lanes' cluster before the first batch needs them; a failure leaves it to that batch. */
  prepare(): void;
  close(): Promise<void>;
}

/** The clients, not yet connected (the admin connects on first use or with admin.connect()). */
export function createWorkerClients(config: Config, logger: Logger): WorkerClients {
  // The worker publishes every record: its produce requests are encoded in one pass.
  installFastProduceEncoding();
  const kafka = createKafka(config.kafka, { logger });
  const admin = kafka.admin();
  const redis = createRedis(config.redis, { commandTimeoutMs: redisCommandTimeoutMs(config) });
  const reader = new RangeReader(kafka);
  // A cluster of its own: kafkajs shares one metadata refresh among concurrent callers, and the
  // reader's cluster, asked at start for an input topic not made yet, then kept the topic without
  // its partitions, and its first read waited for them for good.
  const incarnationConnection = new ClusterConnection(kafka);
  const incarnations = new IncarnationCheck(incarnationConnection);
  const transactions = new LaneTransactions(kafka, logger, {
    transactionTimeoutMs: TRANSACTION_TIMEOUT_MS,
    maxRequestBytes: MAX_REQUEST_BYTES,
    idleMs: LANE_IDLE_MS,
  });
  return {
    kafka,
    admin,
    redis,
    reader,
    replayLog: new ReplayLog(reader, admin),
    transactions,
    incarnations,
    store: createInsightsStore(redis, config),
    prepare: () => {
      const { inputTopic, outputTopic, dlqTopic, groupId } = config.kafka;
      Promise.all([reader.prepare(inputTopic), transactions.prepare([outputTopic, dlqTopic]), incarnations.prepare(groupId, inputTopic)]).catch((err: unknown) =>
        logger.debug({ err }, 'Could not connect ahead of the first batch; it will'),
      );
    },
    close: async () => {
      await Promise.allSettled([transactions.close(), reader.close(), incarnationConnection.close(), admin.disconnect(), redis.quit().catch(() => redis.disconnect())]);
    },
  };
}

/** The batch and summary work on these clients, callable with an explicit cancellation signal. */
export function createWorkerWork(clients: WorkerClients, config: Config, metrics?: WorkerMetrics) {
  const { reader, transactions, incarnations, store } = clients;
  return {
    ...createBatchWork({ reader, transactions, incarnations, store, config, metrics }),
    ...createInsightsActivities({ transactions, store, config, metrics }),
  };
}

/**
 * The replay of dead letters: ordinary activities (they heartbeat through Temporal's context), so
 * they run in the worker process itself, engines or not; their transactional ids are the DLQ
 * partitions', never a lane's.
 */
export function createWorkerReplayActivities(clients: WorkerClients, config: Config, metrics?: WorkerMetrics) {
  const { admin, reader, replayLog, transactions, store } = clients;
  return createReplayActivities({ admin, reader, replayLog, transactions, store, config, metrics });
}

export type WorkerWork = ReturnType<typeof createWorkerWork>;

/** The activities the worker registers, running the work in this process. */
export function createWorkerActivities(clients: WorkerClients, config: Config, metrics?: WorkerMetrics) {
  const work = createWorkerWork(clients, config, metrics);
  return { ...batchActivities(work), publishSummary: work.publishSummary, ...createWorkerReplayActivities(clients, config, metrics) };
}
