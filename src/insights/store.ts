/**
 * Rolling insights in Redis. Keys, all under REDIS_PREFIX (P):
 *
 *   P{v:<app_version>}:<bucket>:stats    hash: logins, d:<device_type>, l:<locale>
 *   P{v:<app_version>}:<bucket>:users    HyperLogLog of user ids
 *   P{v:<app_version>}:<bucket>:devices  HyperLogLog of device ids
 *   P{v:<app_version>}:<bucket>:batches  set of the batch ids already applied to this bucket
 *   P{all}:<bucket>:…                    the same across versions; its stats also hold, in the
 *                                        bucket of processing time, `late` and `dlq:<reason>`
 *   P{all}:versions                      sorted set: app version → newest bucket seen
 *   P{all}:<bucket>:published            set of batch ids published while that bucket was "now"
 *
 * One Lua script per hash tag applies a batch's counts to every bucket of that tag atomically,
 * and only for the buckets whose `batches` set does not yet hold the batch id: a retried or
 * repeated batch changes nothing. The `{…}` hash tag keeps each script's keys in one slot, so it
 * also runs on Redis Cluster. A bucket's marker set expires with the bucket, so exactly-once
 * holds for as long as the counts it protects exist.
 */
import type { Redis } from 'ioredis';
import { bucketOf, countMap, type BatchAggregates, type BucketDelta, type AggregateSettings } from '../domain/aggregates';
import type { SummaryBody, SummaryVersionStats } from '../domain/types';

const APPLY_SCRIPT = `
-- KEYS: per bucket, 4 keys: stats, users, devices, batches. ARGV[1]: batch id; ARGV[2]: bucket count;
-- then per bucket: expireAt, user count, users…, device count, devices…, field count, (field, increment)…
local batch = ARGV[1]
local a = 3
local applied = 0
for b = 0, tonumber(ARGV[2]) - 1 do
  local stats, users, devices, batches = KEYS[b*4+1], KEYS[b*4+2], KEYS[b*4+3], KEYS[b*4+4]
  local expireAt = ARGV[a]
  local fresh = redis.call('SADD', batches, batch) == 1
  a = a + 1
  local n = tonumber(ARGV[a]); a = a + 1
  if fresh then
    for i = a, a + n - 1, 500 do redis.call('PFADD', users, unpack(ARGV, i, math.min(i + 499, a + n - 1))) end
  end
  a = a + n
  n = tonumber(ARGV[a]); a = a + 1
  if fresh then
    for i = a, a + n - 1, 500 do redis.call('PFADD', devices, unpack(ARGV, i, math.min(i + 499, a + n - 1))) end
  end
  a = a + n
  n = tonumber(ARGV[a]); a = a + 1
  if fresh then
    for i = a, a + 2 * n - 1, 2 do redis.call('HINCRBY', stats, ARGV[i], ARGV[i + 1]) end
    for _, key in ipairs({stats, users, devices, batches}) do
      if redis.call('EXISTS', key) == 1 then redis.call('EXPIREAT', key, expireAt) end
    end
    applied = applied + 1
  end
  a = a + 2 * n
end
return applied
`;

const APPLY_COMMAND = 'lpApplyBatch';

type RedisWithApply = Redis & {
  [APPLY_COMMAND](...args: (string | number)[]): Promise<number>;
};

export interface InsightsSettings extends AggregateSettings {
  prefix: string;
}

/** One bucket's update inside a script call. */
interface BucketUpdate {
  bucket: number;
  users: string[];
  devices: string[];
  fields: [string, number][];
}

export class InsightsStore {
  private readonly redis: RedisWithApply;

  constructor(
    redis: Redis,
    private readonly settings: InsightsSettings,
  ) {
    if (!(APPLY_COMMAND in redis)) redis.defineCommand(APPLY_COMMAND, { lua: APPLY_SCRIPT });
    this.redis = redis as RedisWithApply;
  }

  private versionTag(appVersion: string): string {
    return `${this.settings.prefix}{v:${appVersion}}`;
  }

  private get totalsTag(): string {
    return `${this.settings.prefix}{all}`;
  }

  private get versionsKey(): string {
    return `${this.totalsTag}:versions`;
  }

  private publishedKey(nowMs: number): string {
    return `${this.totalsTag}:${bucketOf(Math.floor(nowMs / 1000), this.settings.bucketSeconds)}:published`;
  }

  private expireAt(bucket: number): number {
    return bucket + this.settings.bucketSeconds + this.settings.retentionSeconds;
  }

  /**
   * Applies a batch's aggregates exactly once, whatever the retries. Returns how many bucket
   * updates were new (0 when the batch had been applied before).
   */
  async applyBatch(
    batchId: string,
    aggregates: BatchAggregates,
    nowMs: number,
    deadLettersByReason: Partial<Record<string, number>> = {},
  ): Promise<number> {
    const calls: [string, BucketUpdate[]][] = [];
    for (const [appVersion, deltas] of groupBy(aggregates.deltas, (d) => d.appVersion)) {
      calls.push([this.versionTag(appVersion), deltas.map(versionUpdate)]);
    }
    const processingBucket = bucketOf(Math.floor(nowMs / 1000), this.settings.bucketSeconds);
    calls.push([this.totalsTag, totalsUpdates(aggregates, processingBucket, deadLettersByReason)]);
    const pipeline = this.redis.pipeline();
    for (const [tag, updates] of calls) {
      (pipeline as unknown as RedisWithApply)[APPLY_COMMAND](...this.scriptArguments(tag, batchId, updates));
    }
    for (const [appVersion, deltas] of groupBy(aggregates.deltas, (d) => d.appVersion)) {
      // An index, not a count: written outside the scripts, idempotent (GT keeps the newest bucket).
      pipeline.zadd(this.versionsKey, 'GT', Math.max(...deltas.map((d) => d.bucket)), appVersion);
    }
    const oldestKept = bucketOf(Math.floor(nowMs / 1000) - this.settings.retentionSeconds, this.settings.bucketSeconds);
    pipeline.zremrangebyscore(this.versionsKey, '-inf', `(${oldestKept}`);
    const results = await pipeline.exec();
    let applied = 0;
    for (const [index, [err, value]] of (results ?? []).entries()) {
      if (err) throw err;
      if (index < calls.length) applied += Number(value);
    }
    return applied;
  }

  private scriptArguments(tag: string, batchId: string, updates: BucketUpdate[]): (string | number)[] {
    const keys: string[] = [];
    const args: (string | number)[] = [batchId, updates.length];
    for (const u of updates) {
      const base = `${tag}:${u.bucket}`;
      keys.push(`${base}:stats`, `${base}:users`, `${base}:devices`, `${base}:batches`);
      args.push(this.expireAt(u.bucket), u.users.length, ...u.users, u.devices.length, ...u.devices, u.fields.length);
      for (const [field, increment] of u.fields) args.push(field, increment);
    }
    return [keys.length, ...keys, ...args];
  }

  async wasPublished(batchId: string, nowMs: number): Promise<boolean> {
    return (await this.redis.sismember(this.publishedKey(nowMs), batchId)) === 1;
  }

  async markPublished(batchId: string, nowMs: number): Promise<void> {
    const key = this.publishedKey(nowMs);
    await this.redis.multi().sadd(key, batchId).expire(key, 86_400 + this.settings.bucketSeconds).exec();
  }

  /** Per-bucket series for charts: logins per app version, dead letters per reason, late records. */
  async readSeries(sinceMs: number, untilMs: number): Promise<InsightsSeries> {
    const size = this.settings.bucketSeconds;
    const first = bucketOf(Math.floor(sinceMs / 1000), size);
    const end = Math.ceil(untilMs / 1000 / size) * size;
    const buckets: number[] = [];
    for (let b = first; b < end; b += size) buckets.push(b);
    const versions = await this.redis.zrangebyscore(this.versionsKey, first, '+inf');
    const pipeline = this.redis.pipeline();
    for (const b of buckets) pipeline.hgetall(`${this.totalsTag}:${b}:stats`);
    for (const version of versions) for (const b of buckets) pipeline.hget(`${this.versionTag(version)}:${b}:stats`, 'logins');
    const values = ((await pipeline.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    });
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
    return { buckets, loginsByVersion, deadLettersByReason, late: totals.map((h) => Number(h?.late ?? 0)) };
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

  /** The summary of CONTRACT.md for [since, until), resolved to whole buckets. */
  async readWindow(sinceMs: number, untilMs: number, appVersion?: string): Promise<SummaryBody> {
    const size = this.settings.bucketSeconds;
    const first = bucketOf(Math.floor(sinceMs / 1000), size);
    const end = Math.ceil(untilMs / 1000 / size) * size;
    const buckets: number[] = [];
    for (let b = first; b < end; b += size) buckets.push(b);
    const versions = appVersion ? [appVersion] : await this.redis.zrangebyscore(this.versionsKey, first, '+inf');
    const pipeline = this.redis.pipeline();
    if (buckets.length > 0) pipeline.pfcount(...buckets.map((b) => `${this.totalsTag}:${b}:users`));
    for (const version of versions) {
      const tag = this.versionTag(version);
      for (const b of buckets) pipeline.hgetall(`${tag}:${b}:stats`);
      if (buckets.length > 0) {
        pipeline.pfcount(...buckets.map((b) => `${tag}:${b}:users`));
        pipeline.pfcount(...buckets.map((b) => `${tag}:${b}:devices`));
      }
    }
    const replies = (await pipeline.exec()) ?? [];
    const values = replies.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
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
}

export interface InsightsSeries {
  /** Bucket starts, epoch seconds, oldest first. */
  buckets: number[];
  /** Logins per bucket (event time), per app version. */
  loginsByVersion: Record<string, number[]>;
  /** Dead letters per bucket (processing time), per reason. */
  deadLettersByReason: Record<string, number[]>;
  /** Late records per bucket (processing time). */
  late: number[];
}

function versionUpdate(delta: BucketDelta): BucketUpdate {
  const fields: [string, number][] = [['logins', delta.logins]];
  for (const [type, n] of Object.entries(delta.deviceTypes)) fields.push([`d:${type}`, n]);
  for (const [locale, n] of Object.entries(delta.locales)) fields.push([`l:${locale}`, n]);
  return { bucket: delta.bucket, users: delta.users, devices: delta.devices, fields };
}

/** Totals across versions per bucket, plus late records and dead letters in the processing-time bucket. */
function totalsUpdates(aggregates: BatchAggregates, nowBucket: number, deadLettersByReason: Partial<Record<string, number>>): BucketUpdate[] {
  const byBucket = new Map<number, { users: Set<string>; logins: number }>();
  for (const d of aggregates.deltas) {
    const entry = byBucket.get(d.bucket) ?? { users: new Set<string>(), logins: 0 };
    for (const u of d.users) entry.users.add(u);
    entry.logins += d.logins;
    byBucket.set(d.bucket, entry);
  }
  const updates: BucketUpdate[] = [...byBucket].map(([bucket, { users, logins }]) => ({
    bucket,
    users: [...users],
    devices: [],
    fields: [['logins', logins]],
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

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
