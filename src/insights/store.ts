/**
 * Rolling insights in Redis (layout: src/insights/keys.ts). One Lua script per hash tag
 * (src/insights/lua/apply-batch.lua) applies a batch's counts to every bucket of that tag
 * atomically, and only to the buckets that do not hold the batch's id yet: exactly once, for as
 * long as the counts it protects exist. Windows are read back in the summary's shape (docs/contract.md).
 *
 * The same code runs on one Redis and on a Redis Cluster: every script's keys share one hash tag,
 * and so does every pipeline's (one pipeline per tag, all sent at once), so nothing spans slots.
 * With waitReplicas > 0 each tag's writes end with WAIT: a batch publishes only once a replica
 * has its counts, so a master that dies after the publish cannot take them with it.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../clients/redis';
import type { Config } from '../config';
import { PipelineError } from '../errors';
import { bucketOf, countMap, type AggregateSettings, type BatchAggregates, type BucketDelta } from '../domain/aggregates';
import { groupBy } from '../domain/group-by';
import type { Comparison, ReconcileRecord } from '../domain/reconcile';
import type { SummaryBody, SummaryVersionStats } from '../domain/types';
import { InsightsKeys } from './keys';
import { queueApplyBatch, withScripts } from './scripts';

/** One bucket's update inside a script call. */
interface BucketUpdate {
  bucket: number;
  users: string[];
  devices: string[];
  fields: [string, number][];
}

/** Per-bucket series for charts, oldest bucket first; the dashboard serves it as it is (snake_case, as its JSON). */
export interface InsightsSeries {
  /** Bucket starts, epoch seconds. */
  buckets: number[];
  /** Logins per bucket (event time), per app version. */
  logins_by_version: Record<string, number[]>;
  /** Dead letters per bucket (processing time), per reason. */
  dead_letters_by_reason: Record<string, number[]>;
  /** Late records per bucket (processing time). */
  late: number[];
}

/** The one way the product builds its store: REDIS_PREFIX, the replicas to wait for and the aggregate settings from the config. */
export function createInsightsStore(redis: RedisClient, config: Pick<Config, 'redis' | 'aggregates'>): InsightsStore {
  return new InsightsStore(redis, config.redis.prefix, config.aggregates, { waitReplicas: config.redis.waitReplicas });
}

/** How long a batch's writes wait for a replica before the attempt fails (and is retried). */
const WAIT_TIMEOUT_MS = 5_000;

/** A master did not get a batch's counts to enough replicas in time: the attempt is retried, nothing is published yet. */
export class ReplicasBehindError extends PipelineError {
  override name = 'ReplicasBehindError';
}

export class InsightsStore {
  private readonly redis: RedisClient;
  private readonly keys: InsightsKeys;
  private readonly waitReplicas: number;

  constructor(
    redis: RedisClient,
    prefix: string,
    private readonly settings: AggregateSettings,
    options: { waitReplicas?: number } = {},
  ) {
    this.redis = withScripts(redis);
    this.keys = new InsightsKeys(prefix, settings);
    this.waitReplicas = options.waitReplicas ?? 0;
  }

  /**
   * Applies a batch's aggregates exactly once, whatever the retries. Returns how many bucket
   * updates were new (0 when the batch had been applied before).
   */
  async applyBatch(batchId: string, aggregates: BatchAggregates, nowMs: number, deadLettersByReason: Partial<Record<string, number>> = {}): Promise<number> {
    return this.applyBatches([{ batchId, aggregates, deadLettersByReason }], nowMs);
  }

  /**
   * Several batches in one round trip, each under its own marker, each exactly once as
   * applyBatch does it. The replay of dead letters applies one per dead letter, so that a dead
   * letter is counted once whichever replay, with whatever selection, publishes it.
   */
  async applyBatches(batches: readonly { batchId: string; aggregates: BatchAggregates; deadLettersByReason?: Partial<Record<string, number>> }[], nowMs: number): Promise<number> {
    const processingBucket = bucketOf(Math.floor(nowMs / 1000), this.settings.bucketSeconds);
    // One pipeline per hash tag (a version's keys, the totals'), so that none spans slots on a
    // Redis Cluster; each batch's scripts under its own marker.
    const byTag = new Map<string, { batchId: string; updates: BucketUpdate[] }[]>();
    const queue = (tag: string, batchId: string, updates: BucketUpdate[]) => (byTag.get(tag) ?? byTag.set(tag, []).get(tag)!).push({ batchId, updates });
    const newestByVersion = new Map<string, number>();
    for (const { batchId, aggregates, deadLettersByReason = {} } of batches) {
      for (const [version, deltas] of groupBy(aggregates.deltas, (d) => d.appVersion)) {
        queue(this.keys.versionTag(version), batchId, deltas.map(versionUpdate));
        const newest = Math.max(...deltas.map((d) => d.bucket));
        newestByVersion.set(version, Math.max(newest, newestByVersion.get(version) ?? -Infinity));
      }
      queue(this.keys.totalsTag, batchId, totalsUpdates(aggregates, processingBucket, deadLettersByReason));
    }
    const applied = await Promise.all(
      [...byTag].map(async ([tag, calls]) => {
        const pipeline = this.redis.pipeline();
        for (const { batchId, updates } of calls) this.queueApply(pipeline, tag, batchId, updates);
        if (tag === this.keys.totalsTag) {
          // The versions index lives under the totals' tag: in this pipeline, on the same slot.
          // An index, not a count: written outside the scripts, idempotent (GT keeps the newest bucket).
          for (const [version, newest] of newestByVersion) pipeline.zadd(this.keys.versions, 'GT', newest, version);
          pipeline.zremrangebyscore(this.keys.versions, '-inf', `(${this.keys.oldestKeptBucket(nowMs)}`);
        }
        // WAIT counts the replicas that have every write this connection made so far: sent in the
        // tag's pipeline, it reaches the master that ran the scripts, after them.
        if (this.waitReplicas > 0) pipeline.wait(this.waitReplicas, WAIT_TIMEOUT_MS);
        const replies = await execPipeline(pipeline);
        if (this.waitReplicas > 0 && Number(replies.at(-1)) < this.waitReplicas) {
          throw new ReplicasBehindError(
            `Redis confirmed a batch's counts on ${Number(replies.at(-1))} replicas, not ${this.waitReplicas}, within ${WAIT_TIMEOUT_MS} ms (REDIS_WAIT_REPLICAS); retrying before publishing`,
            { retriable: true },
          );
        }
        return replies.slice(0, calls.length).reduce((sum: number, n) => sum + Number(n), 0);
      }),
    );
    return applied.reduce((sum, n) => sum + n, 0);
  }

  private queueApply(pipeline: ChainableCommander, tag: string, batchId: string, updates: BucketUpdate[]): void {
    const keys = updates.flatMap((u) => Object.values(this.keys.bucket(tag, u.bucket)));
    const buckets = updates.map((u) => ({ expireAt: this.keys.expireAt(u.bucket), users: u.users, devices: u.devices, fields: u.fields }));
    queueApplyBatch(pipeline, keys, { batch: batchId, buckets });
  }

  /** Per-bucket series for charts: logins per app version, dead letters per reason, late records. */
  async readSeries(sinceMs: number, untilMs: number): Promise<InsightsSeries> {
    const buckets = this.keys.bucketsBetween(sinceMs, untilMs);
    const versions = await this.versionsSince(buckets[0] ?? bucketOf(Math.floor(sinceMs / 1000), this.settings.bucketSeconds));
    const values = await this.execByTag([
      (p) => buckets.forEach((b) => p.hgetall(this.keys.bucket(this.keys.totalsTag, b).stats)),
      ...versions.map((version) => (p: ChainableCommander) => buckets.forEach((b) => p.hget(this.keys.bucket(this.keys.versionTag(version), b).stats, 'logins'))),
    ]);
    const totals = values.slice(0, buckets.length) as Record<string, string>[];
    const deadLettersByReason: Record<string, number[]> = {};
    totals.forEach((hash, i) => {
      for (const [field, raw] of Object.entries(hash ?? {})) {
        if (!field.startsWith('dlq:')) continue;
        const series = (deadLettersByReason[field.slice(4)] ??= buckets.map(() => 0));
        series[i] = Number(raw);
      }
    });
    const loginsByVersion: Record<string, number[]> = {};
    versions.forEach((version, v) => {
      const series = values.slice(buckets.length * (v + 1), buckets.length * (v + 2)).map((x) => Number(x ?? 0));
      if (series.some((n) => n > 0)) loginsByVersion[version] = series;
    });
    return { buckets, logins_by_version: loginsByVersion, dead_letters_by_reason: deadLettersByReason, late: totals.map((h) => Number(h?.late ?? 0)) };
  }

  /**
   * The last `windowSeconds` up to `untilMs`, ending at the end of the bucket that holds
   * `untilMs`: the current, partial bucket is in, and the window is exactly `windowSeconds` long.
   */
  async readWindowEndingAt(untilMs: number, windowSeconds: number, appVersion?: string): Promise<SummaryBody> {
    const bucketMs = this.settings.bucketSeconds * 1000;
    const endMs = Math.ceil(untilMs / bucketMs) * bucketMs;
    return this.readWindow(endMs - windowSeconds * 1000, endMs, appVersion);
  }

  /** The summary for [since, until), resolved to whole buckets. */
  async readWindow(sinceMs: number, untilMs: number, appVersion?: string): Promise<SummaryBody> {
    const buckets = this.keys.bucketsBetween(sinceMs, untilMs);
    const first = bucketOf(Math.floor(sinceMs / 1000), this.settings.bucketSeconds);
    const end = first + buckets.length * this.settings.bucketSeconds;
    const versions = appVersion ? [appVersion] : await this.versionsSince(first);
    const keysOf = (tag: string) => buckets.map((b) => this.keys.bucket(tag, b));
    const values = await this.execByTag([
      (p) => {
        if (buckets.length > 0) p.pfcount(...keysOf(this.keys.totalsTag).map((k) => k.users));
      },
      ...versions.map((version) => (p: ChainableCommander) => {
        const keys = keysOf(this.keys.versionTag(version));
        for (const k of keys) p.hgetall(k.stats);
        if (buckets.length > 0) {
          p.pfcount(...keys.map((k) => k.users));
          p.pfcount(...keys.map((k) => k.devices));
        }
      }),
    ]);
    let i = 0;
    const totalUsers = buckets.length > 0 ? Number(values[i++]) : 0;
    const appVersions: Record<string, SummaryVersionStats> = {};
    let totalLogins = 0;
    for (const version of versions) {
      const stats = mergeStats(values.slice(i, i + buckets.length) as Record<string, string>[]);
      i += buckets.length;
      const uniqueUsers = buckets.length > 0 ? Number(values[i++]) : 0;
      const uniqueDevices = buckets.length > 0 ? Number(values[i++]) : 0;
      if (stats.logins === 0) continue;
      totalLogins += stats.logins;
      appVersions[version] = {
        logins: stats.logins,
        unique_users: uniqueUsers,
        unique_devices: uniqueDevices,
        device_types: stats.device_types,
        locales: stats.locales,
      };
    }
    return {
      window: { start: new Date(first * 1000).toISOString(), end: new Date(end * 1000).toISOString(), seconds: end - first },
      generated_at: new Date().toISOString(),
      totals: { logins: totalLogins, unique_users: appVersion ? (appVersions[appVersion]?.unique_users ?? 0) : totalUsers },
      app_versions: sortKeys(appVersions),
    };
  }

  /**
   * Whether the batch with this marker id has been applied: the totals bucket of its first login
   * (or, without logins, of processing time) holds the marker.
   */
  async wasApplied(batchId: string, aggregates: BatchAggregates, nowMs: number): Promise<boolean> {
    const bucket = aggregates.deltas[0]?.bucket ?? bucketOf(Math.floor(nowMs / 1000), this.settings.bucketSeconds);
    return (await this.redis.sismember(this.keys.bucket(this.keys.totalsTag, bucket).batches, batchId)) === 1;
  }

  /**
   * Logins in [since, until) (whole buckets) by the totals' own counter: the `logins` field of
   * the {all} buckets, which the totals script keeps apart from the versions' counters (the
   * summary's totals.logins is the sum of the versions').
   */
  async readTotalsLogins(sinceMs: number, untilMs: number): Promise<number> {
    const buckets = this.keys.bucketsBetween(sinceMs, untilMs);
    if (buckets.length === 0) return 0;
    const pipeline = this.redis.pipeline();
    for (const b of buckets) pipeline.hget(this.keys.bucket(this.keys.totalsTag, b).stats, 'logins');
    const values = await execPipeline(pipeline);
    return values.reduce((sum: number, raw) => sum + Number(raw ?? 0), 0);
  }

  /** Keeps a reconcile's result as the last one (layout in keys.ts), replacing the one before. */
  async recordReconcile(record: ReconcileRecord): Promise<void> {
    const key = this.keys.lastReconcile;
    const fields = {
      checked_at: record.checked_at,
      window_start: record.window.start,
      window_end: record.window.end,
      window_seconds: String(record.window.seconds),
      app_version: record.app_version ?? '',
      result: record.green ? 'green' : 'red',
      compared: String(record.compared),
      differences: String(record.differences),
      logins: String(record.logins),
      top_differences: JSON.stringify(record.top_differences),
    };
    await execPipeline(this.redis.multi().del(key).hset(key, fields));
  }

  /** The last reconcile's result; null when there has been none (or it cannot be read back). */
  async readLastReconcile(): Promise<ReconcileRecord | null> {
    const hash = await this.redis.hgetall(this.keys.lastReconcile);
    if (!hash.checked_at || !hash.window_start || !hash.window_end || (hash.result !== 'green' && hash.result !== 'red')) return null;
    let top: Comparison[] = [];
    try {
      const parsed: unknown = JSON.parse(hash.top_differences ?? '[]');
      if (Array.isArray(parsed)) top = parsed as Comparison[];
    } catch {
      // A hand-edited field: the counts still say green or red.
    }
    return {
      checked_at: hash.checked_at,
      window: { start: hash.window_start, end: hash.window_end, seconds: Number(hash.window_seconds ?? 0) },
      app_version: hash.app_version ? hash.app_version : null,
      green: hash.result === 'green',
      compared: Number(hash.compared ?? 0),
      differences: Number(hash.differences ?? 0),
      logins: Number(hash.logins ?? 0),
      top_differences: top,
    };
  }

  private versionsSince(bucket: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.versions, bucket, '+inf');
  }

  /**
   * One pipeline per group, each group's commands on the keys of one hash tag, all sent at once;
   * the replies in the order of the groups and their commands. On a cluster each pipeline goes
   * to the master of its slot; on one Redis they share the connection.
   */
  private async execByTag(groups: ((pipeline: ChainableCommander) => void)[]): Promise<unknown[]> {
    const replies = await Promise.all(
      groups.map((queue) => {
        const pipeline = this.redis.pipeline();
        queue(pipeline);
        return pipeline.length > 0 ? execPipeline(pipeline) : Promise.resolve([]);
      }),
    );
    return replies.flat();
  }
}

/** The replies of a pipeline, in order; the first failed command's error is thrown. */
async function execPipeline(pipeline: ChainableCommander): Promise<unknown[]> {
  return ((await pipeline.exec()) ?? []).map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

function versionUpdate(delta: BucketDelta): BucketUpdate {
  const fields: [string, number][] = [['logins', delta.logins]];
  for (const [type, n] of Object.entries(delta.deviceTypes)) fields.push([`d:${type}`, n]);
  for (const [locale, n] of Object.entries(delta.locales)) fields.push([`l:${locale}`, n]);
  return { bucket: delta.bucket, users: delta.users, devices: delta.devices, fields };
}

/** Totals across versions per bucket, plus late records and dead letters in the processing-time bucket. */
function totalsUpdates(aggregates: BatchAggregates, nowBucket: number, deadLettersByReason: Partial<Record<string, number>>): BucketUpdate[] {
  const updates: BucketUpdate[] = [...groupBy(aggregates.deltas, (d) => d.bucket)].map(([bucket, deltas]) => ({
    bucket,
    users: [...new Set(deltas.flatMap((d) => d.users))],
    devices: [],
    fields: [['logins', deltas.reduce((n, d) => n + d.logins, 0)]],
  }));
  const processingFields: [string, number][] = [];
  if (aggregates.late > 0) processingFields.push(['late', aggregates.late]);
  for (const [reason, n] of Object.entries(deadLettersByReason)) if (n) processingFields.push([`dlq:${reason}`, n]);
  if (processingFields.length > 0) {
    const existing = updates.find((u) => u.bucket === nowBucket);
    if (existing) existing.fields.push(...processingFields);
    else updates.push({ bucket: nowBucket, users: [], devices: [], fields: processingFields });
  }
  return updates;
}

function mergeStats(hashes: Record<string, string>[]): Omit<SummaryVersionStats, 'unique_users' | 'unique_devices'> {
  const deviceTypes = countMap();
  const locales = countMap();
  let logins = 0;
  for (const hash of hashes) {
    for (const [field, raw] of Object.entries(hash ?? {})) {
      const n = Number(raw);
      if (field === 'logins') logins += n;
      else if (field.startsWith('d:')) deviceTypes[field.slice(2)] = (deviceTypes[field.slice(2)] ?? 0) + n;
      else if (field.startsWith('l:')) locales[field.slice(2)] = (locales[field.slice(2)] ?? 0) + n;
    }
  }
  return { logins, device_types: sortKeys(deviceTypes), locales: sortKeys(locales) };
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  const sorted = Object.create(null) as Record<string, T>;
  for (const key of Object.keys(record).sort()) sorted[key] = record[key]!;
  return sorted;
}
