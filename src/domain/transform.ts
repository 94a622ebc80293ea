/**
 * The record rules of CONTRACT.md as one pure function: bytes + source + now → a processed
 * login or a rejection (reason, field, sentence). No I/O and no clock but the `now` it is given,
 * so the activity, the benchmark baseline and the tests all share it.
 */
import { isIP } from 'node:net';
import { PipelineError } from '../errors';
import type { ProcessedLogin, Rejection, SourceRef } from './types';

export interface TransformContext {
  source: SourceRef;
  batchId: string;
  /** Processing time in epoch milliseconds: the upper timestamp limit is 24 h after it. */
  nowMs: number;
  /** `nowMs` as ISO-8601, when the caller has it already (one per batch rather than per record). */
  processedAt?: string;
  ipMasking?: 'none' | 'truncate';
  /**
   * App versions this also accepts, besides the contract's pattern (APP_VERSION_EXTRA_PATTERN,
   * compiled by appVersionPattern). Absent: the contract's rule alone.
   */
  appVersionPattern?: RegExp;
  /** Set when a dead letter is replayed (`npm run dlq -- replay`): its place in the DLQ, carried by the login. */
  replayedFrom?: SourceRef;
}

export type TransformOutcome = { ok: true; login: ProcessedLogin } | { ok: false; rejection: Rejection };

export const MIN_TIMESTAMP_SECONDS = 946_684_800; // 2000-01-01T00:00:00Z
export const MAX_FUTURE_SECONDS = 86_400;
export const MILLISECONDS_THRESHOLD = 1e12;
export const MAX_USER_ID_CHARS = 256;
/** Not in CONTRACT.md's rules: app_version keys Redis aggregates, so its length is bounded. */
export const MAX_APP_VERSION_CHARS = 128;

/**
 * APP_VERSION_EXTRA_PATTERN as the rules use it: matched against the whole value (anchored here,
 * so that a pattern written without ^ and $ cannot accept any value that merely contains it).
 */
export function appVersionPattern(pattern: string | undefined): RegExp | undefined {
  return pattern === undefined ? undefined : new RegExp(`^(?:${pattern})$`, 'u');
}

const APP_VERSION = /^\d+(?:\.\d+){0,3}(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
const DIGITS = /^\d+$/;
const OPTIONAL_FIELDS = ['device_id', 'device_type', 'ip', 'locale'] as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Thrown inside the rules only; transformRecord turns it into a Rejection. */
class RecordRejected extends PipelineError {
  constructor(readonly rejection: Rejection) {
    super(rejection.error, { retriable: false });
  }
}

export function transformRecord(value: Uint8Array | null, ctx: TransformContext): TransformOutcome {
  try {
    return { ok: true, login: toLogin(parseObject(value), ctx) };
  } catch (err) {
    if (err instanceof RecordRejected) return { ok: false, rejection: err.rejection };
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, rejection: { reason: 'processing_error', error: `Unexpected failure while processing the record: ${message}.` } };
  }
}

function reject(reason: Rejection['reason'], error: string, field?: string): never {
  throw new RecordRejected(field === undefined ? { reason, error } : { reason, field, error });
}

function parseObject(value: Uint8Array | null): Record<string, unknown> {
  if (value === null || value.length === 0) reject('invalid_json', 'The record has no value (null or empty).');
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    reject('invalid_json', 'The value is not valid UTF-8.');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    reject('invalid_json', `The value is not valid JSON (${syntaxErrorPlace(err)}).`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    reject('not_an_object', `The value is JSON ${describeJsonType(parsed)}, not an object.`);
  }
  return parsed as Record<string, unknown>;
}

function toLogin(obj: Record<string, unknown>, ctx: TransformContext): ProcessedLogin {
  const userId = requiredUserId(field(obj, 'user_id'));
  const appVersion = requiredAppVersion(field(obj, 'app_version'), ctx.appVersionPattern);
  const timestamp = requiredTimestamp(field(obj, 'timestamp'), ctx.nowMs);
  const missing: string[] = [];
  const deviceType = optionalText(obj, 'device_type', missing)?.toLowerCase() ?? 'unknown';
  const locale = optionalText(obj, 'locale', missing)?.toUpperCase() ?? 'unknown';
  const ip = optionalIp(obj, missing, ctx.ipMasking ?? 'none');
  // An identifier is kept exactly as sent; only the free-text fields are trimmed.
  const deviceId = optionalText(obj, 'device_id', missing, false) ?? null;
  const login: ProcessedLogin = {
    type: 'login',
    user_id: userId,
    app_version: appVersion,
    device_type: deviceType,
    locale,
    ip,
    device_id: deviceId,
    timestamp,
    login_at: new Date(timestamp * 1000).toISOString(),
    missing_fields: missing.sort(),
    source: ctx.source,
    batch_id: ctx.batchId,
    processed_at: ctx.processedAt ?? new Date(ctx.nowMs).toISOString(),
  };
  if (ctx.replayedFrom) login.replayed_from = ctx.replayedFrom;
  return login;
}

/** Own properties only: keys like `__proto__` or `constructor` never reach the rules. */
function field(obj: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(obj, name) ? obj[name] : undefined;
}

function requiredUserId(value: unknown): string {
  if (value === undefined || value === null) reject('missing_field', 'user_id is missing.', 'user_id');
  if (typeof value !== 'string') reject('invalid_field', `user_id must be a string, not ${describeJsonType(value)}.`, 'user_id');
  if (value.trim() === '') reject('invalid_field', 'user_id is empty.', 'user_id');
  if (value.length > MAX_USER_ID_CHARS && codePoints(value) > MAX_USER_ID_CHARS) {
    reject('invalid_field', `user_id is ${codePoints(value)} characters long; at most ${MAX_USER_ID_CHARS} are allowed.`, 'user_id');
  }
  return value;
}

function requiredAppVersion(value: unknown, extra: RegExp | undefined): string {
  if (value === undefined || value === null) reject('missing_field', 'app_version is missing.', 'app_version');
  if (typeof value !== 'string') reject('invalid_field', `app_version must be a string, not ${describeJsonType(value)}.`, 'app_version');
  if (value.length > MAX_APP_VERSION_CHARS) {
    reject('invalid_field', `app_version is ${value.length} characters long; at most ${MAX_APP_VERSION_CHARS} are allowed.`, 'app_version');
  }
  if (!APP_VERSION.test(value) && !extra?.test(value)) {
    const widened = extra ? ' and does not match APP_VERSION_EXTRA_PATTERN' : '';
    reject('invalid_field', `app_version ${quote(value)} is not 1 to 4 dot-separated numbers with an optional -prerelease or +build${widened}.`, 'app_version');
  }
  return value;
}

/** Integer epoch seconds; 10^12 and above is read as milliseconds. */
function requiredTimestamp(value: unknown, nowMs: number): number {
  if (value === undefined || value === null) reject('missing_field', 'timestamp is missing.', 'timestamp');
  let n: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) reject('invalid_field', `timestamp ${truncate(String(value), 40)} is not a whole number.`, 'timestamp');
    n = value;
  } else if (typeof value === 'string') {
    if (!DIGITS.test(value)) reject('invalid_field', `timestamp ${quote(value)} is not a string of digits.`, 'timestamp');
    n = Number(value);
  } else {
    reject('invalid_field', `timestamp must be a number or a string of digits, not ${describeJsonType(value)}.`, 'timestamp');
  }
  const seconds = n >= MILLISECONDS_THRESHOLD ? Math.floor(n / 1000) : n;
  const latest = Math.floor(nowMs / 1000) + MAX_FUTURE_SECONDS;
  if (!Number.isSafeInteger(seconds) || seconds < MIN_TIMESTAMP_SECONDS || seconds > latest) {
    reject('invalid_field', `timestamp ${truncate(String(value), 40)} is outside 2000-01-01T00:00:00Z to 24 h after processing.`, 'timestamp');
  }
  return seconds;
}

/** Absent, null or blank counts as missing; otherwise a string, trimmed unless told not to. */
function optionalText(
  obj: Record<string, unknown>,
  name: (typeof OPTIONAL_FIELDS)[number],
  missing: string[],
  trim = true,
): string | undefined {
  const value = field(obj, name);
  if (value === undefined || value === null) {
    missing.push(name);
    return undefined;
  }
  if (typeof value !== 'string') reject('invalid_field', `${name} must be a string, not ${describeJsonType(value)}.`, name);
  const trimmed = value.trim();
  if (trimmed === '') {
    missing.push(name);
    return undefined;
  }
  return trim ? trimmed : value;
}

function optionalIp(obj: Record<string, unknown>, missing: string[], masking: 'none' | 'truncate'): string | null {
  const ip = optionalText(obj, 'ip', missing);
  if (ip === undefined) return null;
  const family = isIP(ip);
  if (family === 0) reject('invalid_field', `ip ${quote(ip)} is not an IPv4 or IPv6 address.`, 'ip');
  return masking === 'truncate' ? maskIp(ip, family) : ip;
}

/** IPv4 to its /24, IPv6 to its /48: the network, not the person. */
export function maskIp(ip: string, family: number = isIP(ip)): string {
  if (family === 4) return ip.replace(/\.\d+$/, '.0');
  // An IPv4 address written the IPv6 way is masked as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+)\.\d+$/i.exec(ip);
  if (mapped) return `::ffff:${mapped[1]}.0`;
  const [address] = ip.split('%');
  const groups = expandIpv6(address!);
  return `${groups.slice(0, 3).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::`;
}

function expandIpv6(address: string): string[] {
  let text = address;
  const embedded = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (embedded) {
    const octets = embedded[1]!.split('.').map(Number);
    const high = ((octets[0]! << 8) | octets[1]!).toString(16);
    const low = ((octets[2]! << 8) | octets[3]!).toString(16);
    text = `${text.slice(0, embedded.index)}${high}:${low}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  if (tail === undefined) return headGroups;
  const tailGroups = tail ? tail.split(':') : [];
  return [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
}

/**
 * Where JSON.parse stopped, without its quote of the input: that quote may hold control
 * characters or half a surrogate pair, which have no place in a Kafka header.
 */
function syntaxErrorPlace(err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const position = /position (\d+)/.exec(message);
  if (position) return `syntax error at character ${position[1]}`;
  if (/end of (JSON|data)/i.test(message)) return 'it ends too early';
  return 'syntax error';
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

/** A short, printable rendering of a bad value for an error sentence. */
function quote(value: string): string {
  return JSON.stringify(truncate(value, 40));
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
