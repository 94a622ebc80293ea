/**
 * What the dashboard shows, read fresh for each poll: the last hour's per-minute series, the
 * current summary window and the last reconcile's result from Redis, the consumer lag of the
 * bridge's group on INPUT_TOPIC from Kafka, the replays of dead letters (their workflows, listed
 * from Temporal's visibility, and the progress of those running, by their `progress` query),
 * the circuit breaker's state (the bridge's GET /breaker, at DASHBOARD_BRIDGE_URL), and links
 * into the Temporal Web UI. A dependency that is down is reported in the overview (its part
 * null, with an error string); it never fails the whole answer.
 */
import type { Client } from '@temporalio/client';
import type { RedisClient } from '../clients/redis';
import type { Admin } from 'kafkajs';
import type { Config, TemporalConfig } from '../config';
import { countMap } from '../domain/aggregates';
import type { BreakerState } from '../bridge/breaker';
import type { ReconcileRecord } from '../domain/reconcile';
import { REPLAY_PROGRESS_QUERY, REPLAY_WORKFLOW_TYPE, type ReplayProgress } from '../domain/replay';
import { BATCH_TOPIC, DEAD_LETTER_COUNT, LOGIN_COUNT, quote } from '../domain/search-attributes';
import type { SummaryBody } from '../domain/types';
import type { InsightsSeries, InsightsStore } from '../insights/store';
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
  /** The replays of DLQ_TOPIC's dead letters. */
  replays: string;
}

/** One replay of dead letters (`npm run dlq -- replay`), as Temporal lists it. */
export interface ReplaySummary {
  workflow_id: string;
  run_id: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, … */
  status: string;
  started_at: string;
  closed_at: string | null;
  /** Which dead letters it takes, in words (its memo). */
  selection: string;
  dry_run: boolean;
  /** Published as logins (would be, in a dry run) and left in the DLQ so far, from its search attributes. */
  replayed: number | null;
  left: number | null;
  /** DLQ offsets read of those it reads, for a running one that answered its progress query. */
  progress: { done: number; total: number } | null;
  /** The workflow in the Temporal Web UI. */
  link: string;
}

/** The bridge's circuit breaker, as the bridge's GET /breaker says. */
export type BreakerOverview = BreakerState & { bridge_url: string };

export interface Overview {
  generated_at: string;
  bucket_seconds: number;
  window_seconds: number;
  input_topic: string;
  group_id: string;
  /** Per bucket over the last hour; null when Redis could not be read. */
  series: InsightsSeries | null;
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
  /** The last replays of DLQ_TOPIC, running ones first, then the most recently closed; null when Temporal could not be asked. */
  replays: ReplaySummary[] | null;
  replays_error: string | null;
  /** null when the bridge could not be asked (or its address is not known: BRIDGE_HTTP_PORT=0 without DASHBOARD_BRIDGE_URL). */
  breaker: BreakerOverview | null;
  breaker_error: string | null;
  temporal: TemporalLinks;
}

/** Replays shown, at most. */
export const MAX_REPLAYS = 10;

export function temporalLinks(temporal: Pick<TemporalConfig, 'uiUrl' | 'namespace' | 'insightsWorkflowId'>, inputTopic: string, dlqTopic: string): TemporalLinks {
  const base = uiBase(temporal);
  const topicQuery = `${BATCH_TOPIC.name}=${quote(inputTopic)}`;
  return {
    ui_url: temporal.uiUrl,
    namespace: temporal.namespace,
    workflows: `${base}/workflows?query=${encodeURIComponent(topicQuery)}`,
    dead_letter_batches: `${base}/workflows?query=${encodeURIComponent(`${topicQuery} AND ${DEAD_LETTER_COUNT.name} > 0`)}`,
    insights_workflow: `${base}/workflows/${encodeURIComponent(temporal.insightsWorkflowId)}`,
    replays: `${base}/workflows?query=${encodeURIComponent(replaysQuery(dlqTopic))}`,
  };
}

function uiBase(temporal: Pick<TemporalConfig, 'uiUrl' | 'namespace'>): string {
  return `${temporal.uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(temporal.namespace)}`;
}

/** The replays of a DLQ in Temporal's list-filter language: replay workflows carry the DLQ as BatchTopic. */
export function replaysQuery(dlqTopic: string): string {
  return `WorkflowType=${quote(REPLAY_WORKFLOW_TYPE)} AND ${BATCH_TOPIC.name}=${quote(dlqTopic)}`;
}

/** How long the dashboard waits for a running replay's progress, or for the bridge's breaker. */
export const ASK_TIMEOUT_MS = 2_000;

/** The last replays of `dlqTopic`, with the progress of those running. */
export async function listReplays(client: Client, temporal: Pick<TemporalConfig, 'uiUrl' | 'namespace'>, dlqTopic: string): Promise<ReplaySummary[]> {
  const replays: ReplaySummary[] = [];
  for await (const wf of client.workflow.list({ query: replaysQuery(dlqTopic) })) {
    const memo = wf.memo ?? {};
    const number = (key: typeof LOGIN_COUNT | typeof DEAD_LETTER_COUNT) => {
      const value = wf.typedSearchAttributes.get(key);
      return typeof value === 'number' ? value : null;
    };
    replays.push({
      workflow_id: wf.workflowId,
      run_id: wf.runId,
      status: wf.status.name,
      started_at: wf.startTime.toISOString(),
      closed_at: wf.closeTime?.toISOString() ?? null,
      selection: typeof memo.selection === 'string' ? memo.selection : '',
      dry_run: memo.dry_run === true,
      replayed: number(LOGIN_COUNT),
      left: number(DEAD_LETTER_COUNT),
      progress: null,
      link: `${uiBase(temporal)}/workflows/${encodeURIComponent(wf.workflowId)}/${encodeURIComponent(wf.runId)}`,
    });
    if (replays.length >= MAX_REPLAYS) break;
  }
  await Promise.all(
    replays
      .filter((r) => r.status === 'RUNNING')
      .map(async (r) => {
        const progress = await client.connection
          .withDeadline(Date.now() + ASK_TIMEOUT_MS, () => client.workflow.getHandle(r.workflow_id, r.run_id).query<ReplayProgress>(REPLAY_PROGRESS_QUERY))
          .catch(() => undefined);
        if (!progress) return;
        r.progress = progress.offsets;
        const replayed = progress.counts.groups.reduce((n, g) => n + g.replayed, 0);
        r.replayed = replayed;
        r.left = progress.counts.groups.reduce((n, g) => n + g.stillInvalid + g.notReplayable, 0);
      }),
  );
  return replays;
}

/** The breaker's state from the bridge's ops server. */
export async function readBreaker(bridgeUrl: string): Promise<BreakerOverview> {
  const res = await fetch(`${bridgeUrl}/breaker`, { signal: AbortSignal.timeout(ASK_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`the bridge at ${bridgeUrl} answered HTTP ${res.status}`);
  return { ...((await res.json()) as BreakerState), bridge_url: bridgeUrl };
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
  /** A Temporal client, connected on first use (the dashboard runs without Temporal, and says so). */
  temporal: () => Promise<Client>;
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
  private readonly lastError: Record<Dependency, string | null> = { redis: null, kafka: null, temporal: null, bridge: null };
  private readonly links: TemporalLinks;

  constructor(private readonly options: OverviewSourceOptions) {
    this.links = temporalLinks(options.config.temporal, options.config.kafka.inputTopic, options.config.kafka.dlqTopic);
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
    const { bridgeUrl } = config.http;
    const [insights, lag, replays, breaker] = await Promise.all([
      this.attempt('redis', () => this.readInsights(now)),
      this.attempt('kafka', () => this.readLag()),
      this.attempt('temporal', async () => listReplays(await this.options.temporal(), config.temporal, config.kafka.dlqTopic)),
      bridgeUrl === undefined
        ? { value: null, error: 'Bridge: its address is not known (BRIDGE_HTTP_PORT is 0); set DASHBOARD_BRIDGE_URL' }
        : this.attempt('bridge', () => readBreaker(bridgeUrl)),
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
      replays: replays.value,
      replays_error: replays.error,
      breaker: breaker.value,
      breaker_error: breaker.error,
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
    for (const [reason, counts] of Object.entries(series.dead_letters_by_reason)) byReason[reason] = sum(counts);
    // Categories are free text: a device type "__proto__" must stay a plain key.
    const deviceTypes = countMap();
    const locales = countMap();
    for (const stats of Object.values(summary.app_versions)) {
      addInto(deviceTypes, stats.device_types);
      addInto(locales, stats.locales);
    }
    return {
      series,
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
  private async attempt<T>(name: Dependency, read: () => Promise<T>): Promise<{ value: T | null; error: string | null }> {
    try {
      const value = await withDeadline(read(), READ_TIMEOUT_MS, 'The read');
      if (this.lastError[name] !== null) this.options.logger.info({ dependency: name }, `Reading ${DEPENDENCY_NAMES[name]} again`);
      this.lastError[name] = null;
      return { value, error: null };
    } catch (err) {
      const error = `${DEPENDENCY_NAMES[name]}: ${err instanceof Error ? err.message : String(err)}`;
      if (this.lastError[name] !== error) this.options.logger.warn({ dependency: name, error }, 'Dashboard cannot read a dependency');
      this.lastError[name] = error;
      return { value: null, error };
    }
  }
}

type Dependency = 'redis' | 'kafka' | 'temporal' | 'bridge';
const DEPENDENCY_NAMES: Record<Dependency, string> = { redis: 'Redis', kafka: 'Kafka', temporal: 'Temporal', bridge: 'Bridge' };

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function addInto(target: Record<string, number>, counts: Record<string, number>): void {
  for (const [key, n] of Object.entries(counts)) target[key] = (target[key] ?? 0) + n;
}
