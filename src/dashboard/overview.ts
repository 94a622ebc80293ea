/**
 * What the dashboard shows, read fresh for each poll: the last hour's per-minute series, the
 * current summary window and the last reconcile's result from Redis, the consumer lag of the
 * bridge's group on INPUT_TOPIC from Kafka, and links into the Temporal Web UI. A dependency that
 * is down is reported in the overview (its part null, with an error string); it never fails the
 * whole answer.
 */
import type { RedisClient } from '../clients/redis';
import type { Admin } from 'kafkajs';
import type { Config, TemporalConfig } from '../config';
import { countMap } from '../domain/aggregates';
import type { ReconcileRecord } from '../domain/reconcile';
import { BATCH_TOPIC, DEAD_LETTER_COUNT, quote } from '../domain/search-attributes';
import type { SummaryBody } from '../domain/types';
import type { InsightsStore } from '../insights/store';
import type { Logger } from '../log';
import { withDeadline } from '../process/wait';

export const SERIES_SPAN_MS = 3_600_000;
/** How long one read of Redis or Kafka may take before the overview reports it as failed. */
export const READ_TIMEOUT_MS = 5_000;

export interface LagPartition {
  partition: number;
  /** The next offset to be written (log end). */
  high_watermark: string;
  /** The group's committed offset; null when the group has committed nothing on this partition. */
  committed_offset: string | null;
  lag: number;
}

export interface ConsumerLag {
  topic: string;
  group_id: string;
  partitions: LagPartition[];
  total: number;
}

export interface TemporalLinks {
  ui_url: string;
  namespace: string;
  /** Batch workflows of INPUT_TOPIC. */
  workflows: string;
  /** Batch workflows of INPUT_TOPIC that dead-lettered at least one record. */
  dead_letter_batches: string;
  /** The insights workflow (INSIGHTS_WORKFLOW_ID). */
  insights_workflow: string;
}

export interface Overview {
  generated_at: string;
  bucket_seconds: number;
  window_seconds: number;
  input_topic: string;
  group_id: string;
  /** Per bucket over the last hour; null when Redis could not be read. */
  series: {
    /** Bucket starts, epoch seconds, oldest first. */
    buckets: number[];
    /** Logins per bucket (event time), per app version. */
    logins_by_version: Record<string, number[]>;
    /** Dead letters per bucket (processing time), per reason. */
    dead_letters_by_reason: Record<string, number[]>;
    late: number[];
  } | null;
  /** The current window (SUMMARY_WINDOW_SECONDS ending with the current bucket). */
  summary: SummaryBody | null;
  /** Over the current window, all app versions together. */
  device_types: Record<string, number> | null;
  locales: Record<string, number> | null;
  /** Totals over the hour of the series. */
  dead_letters: { by_reason: Record<string, number>; total: number } | null;
  /** What the last `npm run reconcile` found; null when none was recorded, or Redis could not be read. */
  last_reconcile: ReconcileRecord | null;
  redis_error: string | null;
  lag: ConsumerLag | null;
  lag_error: string | null;
  temporal: TemporalLinks;
}

export function temporalLinks(temporal: Pick<TemporalConfig, 'uiUrl' | 'namespace' | 'insightsWorkflowId'>, inputTopic: string): TemporalLinks {
  const base = `${temporal.uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(temporal.namespace)}`;
  const topicQuery = `${BATCH_TOPIC.name}=${quote(inputTopic)}`;
  return {
    ui_url: temporal.uiUrl,
    namespace: temporal.namespace,
    workflows: `${base}/workflows?query=${encodeURIComponent(topicQuery)}`,
    dead_letter_batches: `${base}/workflows?query=${encodeURIComponent(`${topicQuery} AND ${DEAD_LETTER_COUNT.name} > 0`)}`,
    insights_workflow: `${base}/workflows/${encodeURIComponent(temporal.insightsWorkflowId)}`,
  };
}

/**
 * Lag per partition: high watermark minus the committed offset. A partition the group has not
 * committed on yet counts its whole high watermark.
 */
export async function consumerLag(admin: Admin, topic: string, groupId: string): Promise<ConsumerLag> {
  // In this order: fetchTopicOffsets loads the cluster's metadata, which finding the group's
  // coordinator needs (concurrently, on a fresh connection, fetchOffsets fails).
  const ends = await admin.fetchTopicOffsets(topic);
  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  const committedByPartition = new Map<number, string>();
  for (const p of committed.find((t) => t.topic === topic)?.partitions ?? []) committedByPartition.set(p.partition, p.offset);
  const partitions = ends
    .map(({ partition, high }): LagPartition => {
      const raw = committedByPartition.get(partition);
      const hasCommit = raw !== undefined && BigInt(raw) >= 0n;
      const lag = BigInt(high) - (hasCommit ? BigInt(raw) : 0n);
      return {
        partition,
        high_watermark: high,
        committed_offset: hasCommit ? raw : null,
        lag: Number(lag > 0n ? lag : 0n),
      };
    })
    .sort((a, b) => a.partition - b.partition);
  return { topic, group_id: groupId, partitions, total: partitions.reduce((sum, p) => sum + p.lag, 0) };
}

export interface OverviewSourceOptions {
  config: Config;
  store: InsightsStore;
  redis: RedisClient;
  admin: Admin;
  logger: Logger;
  /** For tests: the clock. */
  now?: () => number;
}

/**
 * Reads overviews with one Redis client and one Kafka admin for the process's life. Concurrent
 * requests (several open pages) share one read.
 */
export class OverviewSource {
  private adminConnected = false;
  private inFlight: Promise<Overview> | undefined;
  private readonly lastError: Record<'redis' | 'kafka', string | null> = { redis: null, kafka: null };
  private readonly links: TemporalLinks;

  constructor(private readonly options: OverviewSourceOptions) {
    this.links = temporalLinks(options.config.temporal, options.config.kafka.inputTopic);
  }

  read(): Promise<Overview> {
    this.inFlight ??= this.readNow().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  async close(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
    if (this.adminConnected) await this.options.admin.disconnect().catch(() => undefined);
    this.adminConnected = false;
  }

  private async readNow(): Promise<Overview> {
    const { config } = this.options;
    const now = (this.options.now ?? Date.now)();
    const [insights, lag] = await Promise.all([
      this.attempt('redis', () => this.readInsights(now)),
      this.attempt('kafka', () => this.readLag()),
    ]);
    return {
      generated_at: new Date(now).toISOString(),
      bucket_seconds: config.aggregates.bucketSeconds,
      window_seconds: config.summary.windowSeconds,
      input_topic: config.kafka.inputTopic,
      group_id: config.kafka.groupId,
      series: insights.value?.series ?? null,
      summary: insights.value?.summary ?? null,
      device_types: insights.value?.deviceTypes ?? null,
      locales: insights.value?.locales ?? null,
      dead_letters: insights.value?.deadLetters ?? null,
      last_reconcile: insights.value?.lastReconcile ?? null,
      redis_error: insights.error,
      lag: lag.value,
      lag_error: lag.error,
      temporal: this.links,
    };
  }

  private async readInsights(now: number) {
    const { redis, store, config } = this.options;
    // Without a connection, fail now rather than queue commands behind a reconnect.
    if (redis.status !== 'ready') throw new Error(`Redis is not connected (${redis.status})`);
    const [series, summary, lastReconcile] = await Promise.all([
      store.readSeries(now - SERIES_SPAN_MS, now),
      store.readWindowEndingAt(now, config.summary.windowSeconds),
      store.readLastReconcile(),
    ]);
    const byReason = countMap();
    for (const [reason, counts] of Object.entries(series.deadLettersByReason)) byReason[reason] = sum(counts);
    // Categories are free text: a device type "__proto__" must stay a plain key.
    const deviceTypes = countMap();
    const locales = countMap();
    for (const stats of Object.values(summary.app_versions)) {
      addInto(deviceTypes, stats.device_types);
      addInto(locales, stats.locales);
    }
    return {
      series: {
        buckets: series.buckets,
        logins_by_version: series.loginsByVersion,
        dead_letters_by_reason: series.deadLettersByReason,
        late: series.late,
      },
      summary,
      deviceTypes,
      locales,
      deadLetters: { by_reason: byReason, total: sum(Object.values(byReason)) },
      lastReconcile,
    };
  }

  private async readLag(): Promise<ConsumerLag> {
    const { admin, config } = this.options;
    if (!this.adminConnected) {
      await admin.connect();
      this.adminConnected = true;
    }
    try {
      return await consumerLag(admin, config.kafka.inputTopic, config.kafka.groupId);
    } catch (err) {
      // Start over with a fresh connection next time: the broker may have moved or restarted.
      this.adminConnected = false;
      await admin.disconnect().catch(() => undefined);
      throw err;
    }
  }

  /** Runs one read with a deadline; logs when a dependency starts or stops failing. */
  private async attempt<T>(name: 'redis' | 'kafka', read: () => Promise<T>): Promise<{ value: T | null; error: string | null }> {
    try {
      const value = await withDeadline(read(), READ_TIMEOUT_MS, 'The read');
      if (this.lastError[name] !== null) this.options.logger.info({ dependency: name }, `Reading ${name === 'redis' ? 'Redis' : 'Kafka'} again`);
      this.lastError[name] = null;
      return { value, error: null };
    } catch (err) {
      const error = `${name === 'redis' ? 'Redis' : 'Kafka'}: ${err instanceof Error ? err.message : String(err)}`;
      if (this.lastError[name] !== error) this.options.logger.warn({ dependency: name, error }, 'Dashboard cannot read a dependency');
      this.lastError[name] = error;
      return { value: null, error };
    }
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function addInto(target: Record<string, number>, counts: Record<string, number>): void {
  for (const [key, n] of Object.entries(counts)) target[key] = (target[key] ?? 0) + n;
}
