/**
 * What one batch adds to the rolling insights: per app version and event-time bucket, the login
 * count, the users and devices (for HyperLogLog), and counts per device type and locale. Pure.
 */
import type { ProcessedLogin } from './types';

export interface AggregateSettings {
  bucketSeconds: number;
  retentionSeconds: number;
}

export interface BucketDelta {
  appVersion: string;
  /** Bucket start, epoch seconds. */
  bucket: number;
  logins: number;
  users: string[];
  devices: string[];
  deviceTypes: Record<string, number>;
  locales: Record<string, number>;
}

export interface BatchAggregates {
  deltas: BucketDelta[];
  /** Logins older than the retention: published, but not aggregated. */
  late: number;
}

/** Categories are free text; an absurdly long one is counted under one name, not stored as a key. */
export const MAX_CATEGORY_CHARS = 64;
export const OVERLONG_CATEGORY = '(too long)';

export function bucketOf(timestampSeconds: number, bucketSeconds: number): number {
  return timestampSeconds - (timestampSeconds % bucketSeconds);
}

export function aggregateLogins(logins: readonly ProcessedLogin[], settings: AggregateSettings, nowMs: number): BatchAggregates {
  const oldestKept = bucketOf(Math.floor(nowMs / 1000) - settings.retentionSeconds, settings.bucketSeconds);
  const byKey = new Map<string, { delta: BucketDelta; users: Set<string>; devices: Set<string> }>();
  let late = 0;
  for (const login of logins) {
    const bucket = bucketOf(login.timestamp, settings.bucketSeconds);
    if (bucket < oldestKept) {
      late++;
      continue;
    }
    const key = `${login.app_version}\n${bucket}`;
    let entry = byKey.get(key);
    if (!entry) {
      entry = {
        delta: { appVersion: login.app_version, bucket, logins: 0, users: [], devices: [], deviceTypes: countMap(), locales: countMap() },
        users: new Set(),
        devices: new Set(),
      };
      byKey.set(key, entry);
    }
    entry.delta.logins++;
    entry.users.add(login.user_id);
    if (login.device_id !== null) entry.devices.add(login.device_id);
    increment(entry.delta.deviceTypes, category(login.device_type));
    increment(entry.delta.locales, category(login.locale));
  }
  const deltas = [...byKey.values()].map(({ delta, users, devices }) => ({ ...delta, users: [...users], devices: [...devices] }));
  return { deltas, late };
}

function category(value: string): string {
  return value.length > MAX_CATEGORY_CHARS ? OVERLONG_CATEGORY : value;
}

/** No prototype: a device type of "__proto__" is a key like any other. */
export function countMap(): Record<string, number> {
  return Object.create(null) as Record<string, number>;
}

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}
