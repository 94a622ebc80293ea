/**
 * Reconcile (`npm run reconcile`): the aggregates Redis should hold for a window, recomputed from
 * the processed logins on OUTPUT_TOPIC with the product's own aggregation (aggregates.ts), and
 * their differences from what Redis holds, version by version and field by field. Pure.
 *
 * - Each login counts once, by its `source` (topic, partition, offset): a batch republished after
 *   a crash repeats its logins with the same source, and Redis counted them once.
 * - The window is in event time (`timestamp`), resolved to whole buckets, as Redis reads it.
 * - A login is aggregated as the worker did when it processed it (`processed_at`): one older
 *   than AGGREGATE_RETENTION_SECONDS at that time is late, published but never counted.
 * - Logins, device types and locales are exact counts: any difference is one. Unique users and
 *   devices are HyperLogLog estimates: they differ only when off by more than estimateBound.
 */
import { aggregateLogins, bucketOf, countMap, type AggregateSettings } from './aggregates';
import type { ProcessedLogin, SourceRef, SummaryBody } from './types';

/**
 * Redis's HyperLogLog standard error: 1.04/√16384 for its 16,384 registers, 0.81%. That is the
 * error of large counts; small ones, where the estimate is in effect a linear count of empty
 * registers, are estimated more closely still, so it bounds every count.
 */
export const HLL_STANDARD_ERROR = 0.0081;
/**
 * An estimate differs when it is more than this many standard errors off (3.24%): a healthy Redis
 * does that about once in 16,000 comparisons. A lost or doubled batch shows in the exact counts;
 * the estimates need only catch a HyperLogLog gone wrong, without crying wolf.
 */
export const ESTIMATE_STANDARD_ERRORS = 4;
/**
 * The contract's promise: within 2%. That is about 2.5 standard errors for large counts, which a
 * healthy Redis misses about once in 75 estimates. An estimate beyond it but within the bound is
 * reported, not counted as a difference.
 */
export const CONTRACT_RELATIVE_BOUND = 0.02;

/** The largest |estimate − exact| that is no difference; at least 1, since an estimate is rounded. */
export function estimateBound(exact: number): number {
  return Math.max(1, Math.floor(exact * HLL_STANDARD_ERROR * ESTIMATE_STANDARD_ERRORS));
}

/** The largest |estimate − exact| the contract's 2% allows (at least 1). */
export function contractBound(exact: number): number {
  return Math.max(1, Math.floor(exact * CONTRACT_RELATIVE_BOUND));
}

/** [startS, endS) in epoch seconds, in whole buckets: the window Redis's readWindow reads for [sinceMs, untilMs). */
export interface BucketWindow {
  startS: number;
  endS: number;
}

export function bucketWindow(sinceMs: number, untilMs: number, bucketSeconds: number): BucketWindow {
  const startS = bucketOf(Math.floor(sinceMs / 1000), bucketSeconds);
  const endS = Math.max(startS, Math.ceil(untilMs / 1000 / bucketSeconds) * bucketSeconds);
  return { startS, endS };
}

interface VersionTally {
  logins: number;
  users: Set<string>;
  devices: Set<string>;
  deviceTypes: Record<string, number>;
  locales: Record<string, number>;
}

/** The distinct logins of a window, as read from OUTPUT_TOPIC, aggregated as the worker aggregates them. */
export class ExpectedAggregates {
  readonly versions = new Map<string, VersionTally>();
  readonly users = new Set<string>();
  /** Login records handed to `add`. */
  read = 0;
  /** Distinct logins (by source) whose event time is in the window (and of the app version, if one is given). */
  inWindow = 0;
  /** Logins of the window seen again with a source already counted. */
  duplicates = 0;
  /** Logins of the window older than the retention when processed: published, never aggregated. */
  late = 0;
  private readonly seen = new Set<string>();

  constructor(
    private readonly settings: AggregateSettings,
    private readonly window: BucketWindow,
    private readonly appVersion?: string,
  ) {}

  add(logins: Iterable<ProcessedLogin>): void {
    // The worker aggregates a batch at one processing time: so does this, per processed_at.
    const byProcessedAt = new Map<string, ProcessedLogin[]>();
    for (const login of logins) {
      this.read++;
      if (login.timestamp < this.window.startS || login.timestamp >= this.window.endS) continue;
      if (this.appVersion !== undefined && login.app_version !== this.appVersion) continue;
      const key = sourceKey(login.source);
      if (this.seen.has(key)) {
        this.duplicates++;
        continue;
      }
      this.seen.add(key);
      this.inWindow++;
      const group = byProcessedAt.get(login.processed_at);
      if (group) group.push(login);
      else byProcessedAt.set(login.processed_at, [login]);
    }
    for (const [processedAt, group] of byProcessedAt) {
      const { deltas, late } = aggregateLogins(group, this.settings, Date.parse(processedAt));
      this.late += late;
      for (const delta of deltas) {
        let tally = this.versions.get(delta.appVersion);
        if (!tally) {
          tally = { logins: 0, users: new Set(), devices: new Set(), deviceTypes: countMap(), locales: countMap() };
          this.versions.set(delta.appVersion, tally);
        }
        tally.logins += delta.logins;
        for (const user of delta.users) {
          tally.users.add(user);
          this.users.add(user);
        }
        for (const device of delta.devices) tally.devices.add(device);
        addInto(tally.deviceTypes, delta.deviceTypes);
        addInto(tally.locales, delta.locales);
      }
    }
  }

  get logins(): number {
    let n = 0;
    for (const tally of this.versions.values()) n += tally.logins;
    return n;
  }
}

export function sourceKey(source: SourceRef): string {
  return `${source.topic}\u0000${source.partition}\u0000${source.offset}`;
}

export interface Comparison {
  /** null for the totals across versions. */
  app_version: string | null;
  /** `logins`, `device_types.<type>`, `locales.<locale>`, `unique_users`, `unique_devices`; for the totals also `logins_counter`. */
  field: string;
  kind: 'exact' | 'estimate';
  /** From the topic (exact). */
  topic: number;
  /** From Redis. */
  redis: number;
  /** redis − topic. */
  difference: number;
  /** The largest |difference| that is no difference: 0 for exact counts. */
  bound: number;
  /** For an estimate: the largest |difference| within the contract's 2%. */
  contract_bound?: number;
}

export interface ReconcileOutcome {
  /** Every value compared. */
  compared: Comparison[];
  /** Those that differ beyond their bound. */
  differences: Comparison[];
  /** Estimates within their bound but more than the contract's 2% off: reported, not differences. */
  beyondContract: Comparison[];
}

/**
 * Compares the expected aggregates with Redis's summary of the same window. `loginsCounter` is
 * the totals' own per-bucket login counter (kept by a script of its own, apart from the
 * versions'), when read: the summary's `totals.logins` is the sum of the versions' counts.
 */
export function compareWithRedis(expected: ExpectedAggregates, redis: SummaryBody, loginsCounter?: number): ReconcileOutcome {
  const compared: Comparison[] = [];
  const exact = (appVersion: string | null, field: string, topic: number, actual: number) =>
    compared.push({ app_version: appVersion, field, kind: 'exact', topic, redis: actual, difference: actual - topic, bound: 0 });
  const estimate = (appVersion: string | null, field: string, topic: number, actual: number) =>
    compared.push({ app_version: appVersion, field, kind: 'estimate', topic, redis: actual, difference: actual - topic, bound: estimateBound(topic), contract_bound: contractBound(topic) });

  const versions = [...new Set([...expected.versions.keys(), ...Object.keys(redis.app_versions)])].sort();
  for (const version of versions) {
    const want = expected.versions.get(version);
    const got = redis.app_versions[version];
    exact(version, 'logins', want?.logins ?? 0, got?.logins ?? 0);
    for (const [name, wantCounts, gotCounts] of [
      ['device_types', want?.deviceTypes ?? {}, got?.device_types ?? {}],
      ['locales', want?.locales ?? {}, got?.locales ?? {}],
    ] as const) {
      for (const key of [...new Set([...Object.keys(wantCounts), ...Object.keys(gotCounts)])].sort()) {
        exact(version, `${name}.${key}`, wantCounts[key] ?? 0, gotCounts[key] ?? 0);
      }
    }
    estimate(version, 'unique_users', want?.users.size ?? 0, got?.unique_users ?? 0);
    estimate(version, 'unique_devices', want?.devices.size ?? 0, got?.unique_devices ?? 0);
  }
  exact(null, 'logins', expected.logins, redis.totals.logins);
  if (loginsCounter !== undefined) exact(null, 'logins_counter', expected.logins, loginsCounter);
  estimate(null, 'unique_users', expected.users.size, redis.totals.unique_users);
  const differences = compared.filter((c) => Math.abs(c.difference) > c.bound);
  const beyondContract = compared.filter((c) => c.contract_bound !== undefined && Math.abs(c.difference) > c.contract_bound && Math.abs(c.difference) <= c.bound);
  return { compared, differences, beyondContract };
}

/** What the last reconcile found, kept in Redis for the dashboard (src/insights/keys.ts). */
export interface ReconcileRecord {
  checked_at: string;
  window: { start: string; end: string; seconds: number };
  /** The one app version checked, or null for all. */
  app_version: string | null;
  green: boolean;
  /** How many values were compared, and how many differed. */
  compared: number;
  differences: number;
  /** Distinct logins of the window on the topic. */
  logins: number;
  /** The first differences, at most MAX_RECORDED_DIFFERENCES. */
  top_differences: Comparison[];
}

export const MAX_RECORDED_DIFFERENCES = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A login record's value, when it has what reconcile needs; undefined when it does not. */
export function parseLogin(value: Uint8Array | null): ProcessedLogin | undefined {
  if (value === null) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(value));
  } catch {
    return undefined;
  }
  const l = parsed as Partial<ProcessedLogin> | null;
  const source = l?.source as Partial<SourceRef> | undefined;
  const ok =
    l !== null &&
    typeof l === 'object' &&
    l.type === 'login' &&
    typeof l.user_id === 'string' &&
    typeof l.app_version === 'string' &&
    Number.isSafeInteger(l.timestamp) &&
    typeof l.device_type === 'string' &&
    typeof l.locale === 'string' &&
    (l.device_id === null || typeof l.device_id === 'string') &&
    typeof l.processed_at === 'string' &&
    !Number.isNaN(Date.parse(l.processed_at)) &&
    typeof source?.topic === 'string' &&
    Number.isInteger(source.partition) &&
    typeof source.offset === 'string';
  return ok ? (l as ProcessedLogin) : undefined;
}

function addInto(target: Record<string, number>, counts: Record<string, number>): void {
  for (const [key, n] of Object.entries(counts)) target[key] = (target[key] ?? 0) + n;
}
