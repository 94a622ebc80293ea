/** The one place a kafkajs client is built: brokers, SASL and TLS come from the config. */
import { readFileSync } from 'node:fs';
import { Kafka, logLevel as KafkaLogLevel, type IHeaders, type KafkaConfig as KafkajsConfig, type LogEntry, type PartitionMetadata, type SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../config';
import type { Logger } from '../log';

export interface KafkaClientOptions {
  clientId?: string;
  logger?: Logger;
  /** Give up connecting quickly, for health probes. */
  fast?: boolean;
  /**
   * How often a failed request or connection is retried (default 8, with backoff up to 10 s):
   * fewer for a one-shot command, which should say Kafka is down within seconds.
   */
  retries?: number;
}

/** Where Kafka is, for messages: its bootstrap brokers. */
export function kafkaAddress(config: Pick<KafkaConfig, 'brokers'>): string {
  return config.brokers.join(',');
}

export function createKafka(config: KafkaConfig, options: KafkaClientOptions = {}): Kafka {
  const settings: KafkajsConfig = {
    clientId: options.clientId ?? config.clientId,
    brokers: config.brokers,
    ssl: tlsOptions(config),
    sasl: saslOptions(config),
    logLevel: options.logger?.isLevelEnabled('debug') ? KafkaLogLevel.DEBUG : KafkaLogLevel.NOTHING,
    logCreator: options.logger ? routeTo(options.logger) : undefined,
    connectionTimeout: options.fast ? 1_000 : 5_000,
    requestTimeout: options.fast ? 2_000 : 30_000,
    retry: options.fast ? { retries: 0 } : { initialRetryTime: 300, retries: options.retries ?? 8, maxRetryTime: 10_000 },
  };
  return new Kafka(settings);
}

function tlsOptions(config: KafkaConfig): KafkajsConfig['ssl'] {
  if (!config.ssl) return undefined;
  const { caFile, certFile, keyFile, rejectUnauthorized } = config.ssl;
  return {
    rejectUnauthorized,
    ca: caFile ? [readFileSync(caFile, 'utf8')] : undefined,
    cert: certFile ? readFileSync(certFile, 'utf8') : undefined,
    key: keyFile ? readFileSync(keyFile, 'utf8') : undefined,
  };
}

function saslOptions(config: KafkaConfig): SASLOptions | undefined {
  if (!config.sasl) return undefined;
  const { mechanism, username, password } = config.sasl;
  return { mechanism, username, password } as SASLOptions;
}

const KAFKAJS_LEVELS: Record<number, string> = { [KafkaLogLevel.ERROR]: 'error', [KafkaLogLevel.WARN]: 'warn', [KafkaLogLevel.INFO]: 'info', [KafkaLogLevel.DEBUG]: 'debug' };

/**
 * kafkajs's own log lines, as structured lines of ours, at debug level. kafkajs logs every error
 * response of the broker at error level, also those it retries itself or that answer an expected
 * question (a topic that does not exist yet, a transaction coordinator that is still busy), and
 * every failed connection while a broker is down. What matters reaches our code as an error or a
 * retry, which says in one sentence what is wrong; LOG_LEVEL=debug shows kafkajs's detail.
 */
function routeTo(logger: Logger) {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, timestamp: _ts, logger: _l, ...extra } = log as { message: string; timestamp?: string; logger?: string };
      child.debug({ ...extra, kafkajsLevel: KAFKAJS_LEVELS[level] ?? level }, message);
    };
}

/**
 * kafkajs has no manual partition assignment (tulios/kafkajs#373): a consumer always joins a
 * group. Reading given offset ranges therefore goes one level down, to the Cluster class that
 * kafkajs's own consumer fetches with, built by the Kafka instance with its brokers, TLS, SASL,
 * logging and retry. This is the one place that reaches past kafkajs's public API; kafkajs is
 * pinned (2.2.4, its last release), and test/integration/range-reader.test.ts covers what we use.
 */
export function createCluster(kafka: Kafka): KafkajsCluster {
  const create = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  if (!create) throw new Error('This kafkajs version does not create clusters as 2.2.4 does; see src/clients/kafka.ts createCluster.');
  const factory = (kafka as unknown as Record<symbol, (options: object) => KafkajsCluster>)[create]!;
  return factory({ metadataMaxAge: 300_000, allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED });
}

/**
 * A cluster of kafkajs's and its one connect(), shared by whoever needs the cluster connected; a
 * connect that failed is made again by the next caller.
 */
export class ClusterConnection {
  readonly cluster: KafkajsCluster;
  private connecting: Promise<void> | undefined;

  constructor(kafka: Kafka) {
    this.cluster = createCluster(kafka);
  }

  connect(): Promise<void> {
    this.connecting ??= this.cluster.connect().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  async close(): Promise<void> {
    if (this.connecting) await this.cluster.disconnect().catch(() => undefined);
    this.connecting = undefined;
  }
}

/** kafkajs's isolation level for fetches and offset lookups that see only committed transactions. */
export const READ_COMMITTED = 1;

/**
 * A partition's metadata as kafkajs's metadata decoder (v5 and later) builds it, its fields in its
 * order: the shape V8 sees in real metadata, for the stand-ins of a worker engine's rehearsal.
 */
export function kafkajsPartitionMetadata(partitionId: number, leader: number): PartitionMetadata {
  return { partitionErrorCode: 0, partitionId, leader, replicas: [leader], isr: [leader], offlineReplicas: [] };
}

/** The part of kafkajs's internal Cluster (src/cluster/index.js) that the range reader uses. */
export interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findTopicPartitionMetadata(topic: string): PartitionMetadata[];
  findBroker(options: { nodeId: string }): Promise<KafkajsBroker>;
  fetchTopicsOffset(topics: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[]): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

export interface KafkajsBroker {
  fetch(request: {
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: { topic: string; partitions: { partition: number; fetchOffset: string; maxBytes: number }[] }[];
  }): Promise<{ responses: { topicName: string; partitions: KafkajsPartitionData[] }[] }>;
}

export interface KafkajsPartitionData {
  partition: number;
  errorCode: number;
  highWatermark: string;
  lastStableOffset?: string;
  abortedTransactions?: { producerId: string; firstOffset: string }[];
  messages: KafkajsRecord[];
}

export interface KafkajsRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers: IHeaders;
  isControlRecord?: boolean;
  /** Of the record batch it came in: its first offset, its last as a delta from the first. */
  batchContext: { producerId: string; inTransaction: boolean; firstOffset?: string; lastOffsetDelta?: number };
}

/** Resolves when a broker answers a metadata request; rejects quickly when none does. */
export async function probeKafka(config: KafkaConfig): Promise<void> {
  const admin = createKafka(config, { fast: true }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
