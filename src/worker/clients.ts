/**
 * The clients a worker owns (Kafka admin, range reader, lane producers, Redis) and the
 * activities built from them: one construction for the worker process and for tests that run
 * the activities in a worker of their own.
 */
import type { Admin, Kafka } from 'kafkajs';
import { createBatchActivities } from '../activities/batch';
import { IncarnationCheck } from '../activities/incarnation';
import { createInsightsActivities } from '../activities/insights';
import { createKafka } from '../clients/kafka';
import { RangeReader } from '../clients/range-reader';
import { createRedis, type RedisClient } from '../clients/redis';
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
  transactions: LaneTransactions;
  store: InsightsStore;
  close(): Promise<void>;
}

/** The clients, not yet connected (the admin connects on first use or with admin.connect()). */
export function createWorkerClients(config: Config, logger: Logger): WorkerClients {
  const kafka = createKafka(config.kafka, { logger });
  const admin = kafka.admin();
  const redis = createRedis(config.redis);
  const reader = new RangeReader(kafka);
  const transactions = new LaneTransactions(kafka, admin, logger, {
    transactionTimeoutMs: TRANSACTION_TIMEOUT_MS,
    maxRequestBytes: MAX_REQUEST_BYTES,
    idleMs: LANE_IDLE_MS,
  });
  return {
    kafka,
    admin,
    redis,
    reader,
    transactions,
    store: createInsightsStore(redis, config),
    close: async () => {
      await Promise.allSettled([transactions.close(), reader.close(), admin.disconnect(), redis.quit().catch(() => redis.disconnect())]);
    },
  };
}

export function createWorkerActivities(clients: WorkerClients, config: Config, metrics?: WorkerMetrics) {
  const { reader, transactions, admin, store } = clients;
  return {
    ...createBatchActivities({ reader, transactions, incarnations: new IncarnationCheck(admin), store, config, metrics }),
    ...createInsightsActivities({ transactions, store, config, metrics }),
  };
}
