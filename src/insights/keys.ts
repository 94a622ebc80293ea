/**
 * Where the rolling insights live in Redis. Every key starts with REDIS_PREFIX (P):
 *
 *   P{v:<app_version>}:<bucket>:stats    hash: logins, d:<device_type>, l:<locale>
 *   P{v:<app_version>}:<bucket>:users    HyperLogLog of user ids
 *   P{v:<app_version>}:<bucket>:devices  HyperLogLog of device ids
 *   P{v:<app_version>}:<bucket>:batches  set of the batch ids already applied to this bucket
 *   P{all}:<bucket>:…                    the same across versions; its stats also hold, in the
 *                                        bucket of processing time, `late` and `dlq:<reason>`
 *   P{all}:versions                      sorted set: app version → newest bucket seen
 *   P{all}:reconcile:last                hash: the last `npm run reconcile`'s result, for the
 *                                        dashboard: checked_at, window_start, window_end (ISO),
 *                                        window_seconds, app_version ("" for all), result
 *                                        ("green" or "red"), compared, differences, logins, and
 *                                        top_differences (JSON: the first few differences). No
 *                                        expiry: the next reconcile replaces it.
 *
 * `<bucket>` is the bucket's start in epoch seconds. The `{…}` hash tag puts every key that one
 * script touches in one Redis Cluster slot: one tag per app version, one for the totals.
 */
import { bucketOf, type AggregateSettings } from '../domain/aggregates';

export interface BucketKeys {
  stats: string;
  users: string;
  devices: string;
  /** The batches applied to this bucket: the exactly-once marker of its counts. */
  batches: string;
}

export class InsightsKeys {
  constructor(
    private readonly prefix: string,
    private readonly settings: AggregateSettings,
  ) {}

  versionTag(appVersion: string): string {
    return `${this.prefix}{v:${appVersion}}`;
  }

  get totalsTag(): string {
    return `${this.prefix}{all}`;
  }

  /** App version → the newest bucket it has counts in, for listing the versions of a window. */
  get versions(): string {
    return `${this.totalsTag}:versions`;
  }

  /** The last reconcile's result (src/domain/reconcile.ts ReconcileRecord). */
  get lastReconcile(): string {
    return `${this.totalsTag}:reconcile:last`;
  }

  bucket(tag: string, bucket: number): BucketKeys {
    const base = `${tag}:${bucket}`;
    return { stats: `${base}:stats`, users: `${base}:users`, devices: `${base}:devices`, batches: `${base}:batches` };
  }

  /**
   * When a bucket's keys expire, in epoch seconds: AGGREGATE_RETENTION_SECONDS after the bucket
   * ends. Its `batches` marker expires with the counts it protects, never before them: a batch
   * replayed later than that is older than the retention and counted as late, not aggregated.
   */
  expireAt(bucket: number): number {
    return bucket + this.settings.bucketSeconds + this.settings.retentionSeconds;
  }

  /** The oldest bucket still kept at `nowMs`. */
  oldestKeptBucket(nowMs: number): number {
    return bucketOf(Math.floor(nowMs / 1000) - this.settings.retentionSeconds, this.settings.bucketSeconds);
  }

  /** The buckets that [sinceMs, untilMs) covers, oldest first. */
  bucketsBetween(sinceMs: number, untilMs: number): number[] {
    const size = this.settings.bucketSeconds;
    const buckets: number[] = [];
    const end = Math.ceil(untilMs / 1000 / size) * size;
    for (let b = bucketOf(Math.floor(sinceMs / 1000), size); b < end; b += size) buckets.push(b);
    return buckets;
  }
}
