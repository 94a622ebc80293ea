/**
 * Dead letters as an operator reads them (`npm run dlq`): what their dlq.* headers say (written
 * by src/domain/dead-letter.ts), grouped by reason, field and error sentence, and their bytes
 * shown as text when they are printable UTF-8, else as hex. Pure.
 *
 * Nothing here trusts a header: a dead letter written by an older version, by hand or by another
 * tool is still described, with what is missing or unreadable named in `problems`, and a missing
 * or unreadable reason shown as "unknown".
 */
import type { SourceRef } from './types';

export const UNKNOWN_REASON = 'unknown';

/** A header value as kafkajs hands it over: bytes, text, or several values under one name. */
export type RawHeaderValue = Uint8Array | string | (Uint8Array | string)[] | undefined;

/** One record of the dead-letter topic, as read. */
export interface RawRecord {
  partition: number;
  offset: string;
  /** The Kafka timestamp, epoch milliseconds. */
  timestamp: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: Record<string, RawHeaderValue>;
}

export interface DeadLetterInfo {
  partition: number;
  offset: string;
  reason: string;
  /** null when the dead letter names no field (as for invalid_json). */
  field: string | null;
  /** null when the dlq.error header is missing or unreadable. */
  error: string | null;
  /** dlq.failed_at as ISO-8601, when it is there and a time. */
  failedAt: string | null;
  /** When it failed, epoch ms: dlq.failed_at, or the Kafka timestamp when that header is missing or unreadable. */
  seenAtMs: number;
  source: SourceRef | null;
  batchId: string | null;
  /** What is wrong with its headers, one phrase each ("dlq.reason is missing"); empty when nothing is. */
  problems: string[];
}

/** Bytes for a person: text when the bytes are printable UTF-8, else hex; at most `limit` characters or bytes. */
export interface BytesView {
  /** The size of the whole value. */
  bytes: number;
  encoding: 'null' | 'text' | 'hex';
  /** The text, or the hex digits without spaces; "" for null. */
  data: string;
  truncated: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
// Control characters but tab, line feed and carriage return; C1 controls; bidirectional overrides
// and isolates, which can make a terminal show text in another order than it is.
const UNPRINTABLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** The value as text when it is valid UTF-8 without control characters; undefined otherwise. */
export function printableText(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  return UNPRINTABLE.test(text) ? undefined : text;
}

export function viewBytes(bytes: Uint8Array | null, limit: number): BytesView {
  if (bytes === null) return { bytes: 0, encoding: 'null', data: '', truncated: false };
  const text = printableText(bytes);
  if (text !== undefined) {
    // By code points, so that a character is never cut in half.
    const shown = [...text.slice(0, limit * 2)].slice(0, limit).join('');
    return { bytes: bytes.length, encoding: 'text', data: shown, truncated: shown.length < text.length };
  }
  const shown = bytes.subarray(0, limit);
  return { bytes: bytes.length, encoding: 'hex', data: Buffer.from(shown).toString('hex'), truncated: bytes.length > limit };
}

/** The first value of a header as text; undefined when it is missing or not printable UTF-8. */
export function headerText(value: RawHeaderValue): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : printableText(first);
}

/** What a dead letter's headers say, each header checked. */
export function describeDeadLetter(record: RawRecord): DeadLetterInfo {
  const problems: string[] = [];
  const read = (name: string, required: boolean): string | null => {
    const raw = record.headers[name];
    if (raw === undefined) {
      if (required) problems.push(`${name} is missing`);
      return null;
    }
    const text = headerText(raw);
    if (text === undefined || text.trim() === '') {
      problems.push(`${name} is unreadable`);
      return null;
    }
    return text;
  };
  const reasonText = read('dlq.reason', true);
  const fieldPresent = record.headers['dlq.field'] !== undefined;
  const field = read('dlq.field', false);
  const error = read('dlq.error', true);
  const failedAtText = read('dlq.failed_at', true);
  const failedAtMs = failedAtText === null ? NaN : Date.parse(failedAtText);
  if (failedAtText !== null && Number.isNaN(failedAtMs)) problems.push('dlq.failed_at is not a time');
  const topic = read('dlq.source.topic', true);
  const partition = read('dlq.source.partition', true);
  const offset = read('dlq.source.offset', true);
  const sourceOk = topic !== null && partition !== null && /^\d+$/.test(partition) && offset !== null && /^\d+$/.test(offset);
  if (partition !== null && !/^\d+$/.test(partition)) problems.push('dlq.source.partition is not a number');
  if (offset !== null && !/^\d+$/.test(offset)) problems.push('dlq.source.offset is not a number');
  return {
    partition: record.partition,
    offset: record.offset,
    reason: reasonText ?? UNKNOWN_REASON,
    field: fieldPresent ? (field ?? UNKNOWN_REASON) : null,
    error,
    failedAt: Number.isNaN(failedAtMs) ? null : new Date(failedAtMs).toISOString(),
    seenAtMs: Number.isNaN(failedAtMs) ? record.timestamp : failedAtMs,
    source: sourceOk ? { topic: topic!, partition: Number(partition), offset: offset! } : null,
    batchId: read('dlq.batch_id', true),
    problems,
  };
}

export interface DeadLetterFilter {
  /** [sinceMs, untilMs) on when they failed (DeadLetterInfo.seenAtMs). */
  sinceMs?: number;
  untilMs?: number;
  reason?: string;
  field?: string;
}

export function matchesFilter(info: DeadLetterInfo, filter: DeadLetterFilter): boolean {
  if (filter.sinceMs !== undefined && info.seenAtMs < filter.sinceMs) return false;
  if (filter.untilMs !== undefined && info.seenAtMs >= filter.untilMs) return false;
  if (filter.reason !== undefined && info.reason !== filter.reason) return false;
  if (filter.field !== undefined && info.field !== filter.field) return false;
  return true;
}

export interface DeadLetterSample {
  partition: number;
  offset: string;
  source: SourceRef | null;
  key: BytesView;
  value: BytesView;
}

export interface DeadLetterGroup {
  reason: string;
  field: string | null;
  error: string | null;
  count: number;
  first_seen: string;
  last_seen: string;
  /** The most recent dead letter of the group. */
  sample: DeadLetterSample;
  /** Dead letters of the group whose headers have a problem (see DeadLetterInfo.problems). */
  malformed: number;
}

/** Characters (text) or bytes (hex) of a sample's key and value. */
export const SAMPLE_LIMIT = 120;

/** Groups dead letters as they are read, keeping counts and one sample per group, not the records. */
export class DeadLetterGroups {
  private readonly groups = new Map<string, DeadLetterGroup & { firstMs: number; lastMs: number }>();
  total = 0;

  add(record: RawRecord, info: DeadLetterInfo = describeDeadLetter(record)): void {
    this.total++;
    const key = JSON.stringify([info.reason, info.field, info.error]);
    let group = this.groups.get(key);
    if (!group) {
      group = {
        reason: info.reason,
        field: info.field,
        error: info.error,
        count: 0,
        first_seen: '',
        last_seen: '',
        firstMs: Infinity,
        lastMs: -Infinity,
        sample: sampleOf(record, info),
        malformed: 0,
      };
      this.groups.set(key, group);
    }
    group.count++;
    if (info.problems.length > 0) group.malformed++;
    if (info.seenAtMs < group.firstMs) {
      group.firstMs = info.seenAtMs;
      group.first_seen = new Date(info.seenAtMs).toISOString();
    }
    if (info.seenAtMs >= group.lastMs) {
      group.lastMs = info.seenAtMs;
      group.last_seen = new Date(info.seenAtMs).toISOString();
      group.sample = sampleOf(record, info);
    }
  }

  /** Largest group first; among equals, the most recently seen. */
  list(): DeadLetterGroup[] {
    return [...this.groups.values()]
      .sort((a, b) => b.count - a.count || b.lastMs - a.lastMs || a.reason.localeCompare(b.reason))
      .map(({ firstMs: _f, lastMs: _l, ...group }) => group);
  }
}

function sampleOf(record: RawRecord, info: DeadLetterInfo): DeadLetterSample {
  return { partition: record.partition, offset: record.offset, source: info.source, key: viewBytes(record.key, SAMPLE_LIMIT), value: viewBytes(record.value, SAMPLE_LIMIT) };
}

/** A classic hex dump: offset, sixteen bytes in hex, and those bytes as ASCII. */
export function hexDump(bytes: Uint8Array): string[] {
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += 16) {
    const row = bytes.subarray(at, at + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${at.toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|`);
  }
  return lines;
}
