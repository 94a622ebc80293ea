/**
 * Properties of transformRecord (fast-check): it never throws, every outcome is a well-formed
 * login or rejection, valid generated records always pass and round-trip their fields, the
 * output holds the contract's keys only, and the function is deterministic.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isIP } from 'node:net';
import {
  MAX_FUTURE_SECONDS,
  MIN_TIMESTAMP_SECONDS,
  transformRecord,
  type TransformContext,
  type TransformOutcome,
} from '../../src/domain/transform';
import { DEAD_LETTER_REASONS } from '../../src/domain/types';

const NOW_MS = Date.UTC(2024, 6, 10, 12, 0, 0, 250);
const NOW_S = Math.floor(NOW_MS / 1000);
const LATEST = NOW_S + MAX_FUTURE_SECONDS;
const CTX: TransformContext = { source: { topic: 'user-login', partition: 7, offset: '18446744073709551615' }, batchId: 'batch-p', nowMs: NOW_MS };

const CONTRACT_KEYS = [
  'app_version', 'batch_id', 'device_id', 'device_type', 'ip', 'locale', 'login_at', 'missing_fields', 'processed_at',
  'source', 'timestamp', 'type', 'user_id',
];
const OPTIONAL = ['device_id', 'device_type', 'ip', 'locale'];
const REQUIRED = ['app_version', 'timestamp', 'user_id'];
const FIELDS = [...REQUIRED, ...OPTIONAL];
const APP_VERSION = /^\d+(?:\.\d+){0,3}(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const RUNS = { numRuns: 300 };

/** Every outcome is ok with all contract fields of the right types, or a known rejection. */
function assertWellFormed(outcome: TransformOutcome): void {
  assert.equal(typeof outcome, 'object');
  if (outcome.ok) {
    const l = outcome.login;
    assert.deepStrictEqual(Object.keys(outcome).sort(), ['login', 'ok']);
    assert.deepStrictEqual(Object.keys(l).sort(), CONTRACT_KEYS);
    assert.equal(l.type, 'login');
    assert.equal(typeof l.user_id, 'string');
    assert.ok(l.user_id.trim().length > 0 && [...l.user_id].length <= 256);
    assert.match(l.app_version, APP_VERSION);
    assert.ok(l.app_version.length <= 128);
    assert.equal(typeof l.device_type, 'string');
    assert.ok(l.device_type.length > 0 && l.device_type === l.device_type.trim());
    assert.equal(typeof l.locale, 'string');
    assert.ok(l.locale.length > 0 && l.locale === l.locale.trim());
    assert.ok(l.ip === null || isIP(l.ip) !== 0, `ip ${l.ip}`);
    assert.ok(l.device_id === null || (typeof l.device_id === 'string' && l.device_id.length > 0));
    assert.ok(Number.isSafeInteger(l.timestamp) && l.timestamp >= MIN_TIMESTAMP_SECONDS && l.timestamp <= LATEST, `timestamp ${l.timestamp}`);
    assert.match(l.login_at, ISO);
    assert.equal(Date.parse(l.login_at), l.timestamp * 1000);
    assert.ok(Array.isArray(l.missing_fields));
    assert.deepStrictEqual(l.missing_fields, [...new Set(l.missing_fields)].sort());
    for (const name of l.missing_fields) assert.ok(OPTIONAL.includes(name), `missing_fields holds ${name}`);
    if (l.missing_fields.includes('device_type')) assert.equal(l.device_type, 'unknown');
    if (l.missing_fields.includes('locale')) assert.equal(l.locale, 'unknown');
    assert.equal(l.missing_fields.includes('ip'), l.ip === null);
    assert.equal(l.missing_fields.includes('device_id'), l.device_id === null);
    assert.deepStrictEqual(l.source, CTX.source);
    assert.equal(l.batch_id, CTX.batchId);
    assert.equal(l.processed_at, new Date(NOW_MS).toISOString());
  } else {
    const r = outcome.rejection;
    assert.ok((DEAD_LETTER_REASONS as readonly string[]).includes(r.reason), `reason ${r.reason}`);
    assert.notEqual(r.reason, 'processing_error', `unexpected failure: ${r.error}`);
    if (r.reason === 'missing_field') assert.ok(REQUIRED.includes(r.field as string), `field ${r.field}`);
    else if (r.reason === 'invalid_field') assert.ok(FIELDS.includes(r.field as string), `field ${r.field}`);
    else assert.equal(r.field, undefined);
    assert.equal(typeof r.error, 'string');
    assert.ok(r.error.trim().length > 0 && r.error.length < 300, `error of ${r.error.length} characters`);
    assert.match(r.error, /\.$/);
  }
}

function run(bytes: Uint8Array | null): TransformOutcome {
  let outcome: TransformOutcome | undefined;
  assert.doesNotThrow(() => {
    outcome = transformRecord(bytes, CTX);
  });
  assertWellFormed(outcome!);
  return outcome!;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v) ?? 'undefined');

// ---------- valid records ----------
const versionArb = fc
  .tuple(
    fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    fc.option(fc.stringMatching(/^[0-9A-Za-z-]{1,8}(\.[0-9A-Za-z-]{1,8}){0,2}$/), { nil: undefined }),
    fc.option(fc.stringMatching(/^[0-9A-Za-z-]{1,8}(\.[0-9A-Za-z-]{1,8}){0,2}$/), { nil: undefined }),
  )
  .map(([nums, pre, build]) => `${nums.join('.')}${pre === undefined ? '' : `-${pre}`}${build === undefined ? '' : `+${build}`}`);
const ipv4Arb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
/**
 * A timestamp as sent (seconds or milliseconds, number or digit string) and its normalised
 * seconds. Milliseconds only from 10^9 s on: below, s * 1000 < 10^12 is read as seconds.
 */
const MS_FROM = 1_000_000_000;
const timestampArb = fc.integer({ min: MIN_TIMESTAMP_SECONDS, max: LATEST }).chain((s) =>
  fc.tuple(
    fc.constant(s),
    s < MS_FROM
      ? fc.constantFrom<number | string>(s, String(s))
      : fc.oneof(
          fc.constant<number | string>(s),
          fc.constant<number | string>(String(s)),
          fc.nat(999).map<number | string>((ms) => s * 1000 + ms),
          fc.nat(999).map<number | string>((ms) => String(s * 1000 + ms)),
        ),
  ),
);
/** undefined = key left out. */
const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null | undefined> =>
  fc.oneof({ weight: 6, arbitrary: arb }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constant(undefined) });
const categoryArb = fc.oneof(fc.constantFrom('iOS', 'Android', ' Web ', 'tablet', 'wa', 'CA', 'ny ', ''), fc.string({ maxLength: 12 }));

const validArb = fc.record({
  user_id: fc.uuid(),
  app_version: versionArb,
  timestamp: timestampArb,
  ip: optional(fc.oneof(ipv4Arb, fc.ipV6())),
  device_type: optional(categoryArb),
  locale: optional(categoryArb),
  device_id: optional(fc.uuid()),
});
type Valid = typeof validArb extends fc.Arbitrary<infer T> ? T : never;

function toRecord(v: Valid): Record<string, unknown> {
  return { ...v, timestamp: v.timestamp[1] };
}
function blank(x: string | null | undefined): boolean {
  return x === null || x === undefined || x.trim() === '';
}

// ---------- inputs of every kind ----------
const anyBytesArb: fc.Arbitrary<Uint8Array | null> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.json().map((s) => Buffer.from(s)),
  fc.object().map(json),
  fc.anything().map(json),
  validArb.map((v) => json(toRecord(v))),
  fc.constant(null),
);

describe('transformRecord: properties', function () {
  this.timeout(20_000);

  it('never throws and gives a well-formed outcome for any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => void run(bytes)), RUNS);
  });

  it('never throws for any string, including lone surrogates and control characters', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => void run(Buffer.from(s))), RUNS);
  });

  it('never throws for any JSON text', () => {
    fc.assert(fc.property(fc.json({ maxDepth: 4 }), (s) => void run(Buffer.from(s))), RUNS);
  });

  it('never throws for any object', () => {
    fc.assert(fc.property(fc.object({ maxDepth: 3 }), (o) => void run(json(o))), RUNS);
  });

  it('never throws when one field of a valid record is replaced by anything', () => {
    fc.assert(
      fc.property(validArb, fc.constantFrom(...FIELDS, '__proto__', 'constructor', 'extra'), fc.anything({ maxDepth: 3 }), (v, name, value) => {
        const outcome = run(json({ ...toRecord(v), [name]: value }));
        if (!outcome.ok && (outcome.rejection.reason === 'missing_field' || outcome.rejection.reason === 'invalid_field')) {
          assert.equal(outcome.rejection.field, name, 'the rejection names another field than the replaced one');
        }
        if (!FIELDS.includes(name)) assert.equal(outcome.ok, true, 'an ignored key changed the outcome');
      }),
      RUNS,
    );
  });

  it('valid records are always ok and round-trip their fields', () => {
    fc.assert(
      fc.property(validArb, (v) => {
        const outcome = run(json(toRecord(v)));
        if (!outcome.ok) return assert.fail(`rejected: ${JSON.stringify(outcome.rejection)}`);
        const l = outcome.login;
        assert.equal(l.user_id, v.user_id);
        assert.equal(l.app_version, v.app_version);
        assert.equal(l.timestamp, v.timestamp[0]);
        assert.equal(l.login_at, new Date(v.timestamp[0] * 1000).toISOString());
        assert.equal(l.device_type, blank(v.device_type) ? 'unknown' : v.device_type!.trim().toLowerCase());
        assert.equal(l.locale, blank(v.locale) ? 'unknown' : v.locale!.trim().toUpperCase());
        assert.equal(l.ip, blank(v.ip) ? null : v.ip);
        assert.equal(l.device_id, blank(v.device_id) ? null : v.device_id);
        const expectedMissing = OPTIONAL.filter((name) => blank(v[name as keyof Valid] as string | null | undefined));
        assert.deepStrictEqual(l.missing_fields, expectedMissing);
      }),
      RUNS,
    );
  });

  it('extra keys never reach the output', () => {
    fc.assert(
      fc.property(validArb, fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }), (v, extras) => {
        for (const name of FIELDS) delete extras[name];
        const plain = run(json(toRecord(v)));
        const withExtras = run(json({ ...extras, ...toRecord(v) }));
        assert.deepStrictEqual(withExtras, plain);
        if (withExtras.ok) assert.deepStrictEqual(Object.keys(withExtras.login).sort(), CONTRACT_KEYS);
      }),
      RUNS,
    );
  });

  it('a millisecond timestamp below 10^12 is read as seconds, hence in the far future', () => {
    fc.assert(
      fc.property(validArb, fc.integer({ min: MIN_TIMESTAMP_SECONDS, max: MS_FROM - 1 }), (v, s) => {
        const outcome = run(json({ ...toRecord(v), timestamp: s * 1000 }));
        assert.equal(outcome.ok, false);
        if (!outcome.ok) assert.deepStrictEqual([outcome.rejection.reason, outcome.rejection.field], ['invalid_field', 'timestamp']);
      }),
      { numRuns: 50 },
    );
  });

  it('seconds and milliseconds, numbers and digit strings, give the same login', () => {
    fc.assert(
      fc.property(validArb, fc.nat(999), (v, ms) => {
        const s = Math.max(v.timestamp[0], MS_FROM);
        const outcomes = [s, String(s), s * 1000 + ms, String(s * 1000 + ms)].map((t) => transformRecord(json({ ...toRecord(v), timestamp: t }), CTX));
        assert.equal(outcomes[0]!.ok, true);
        for (const o of outcomes.slice(1)) assert.deepStrictEqual(o, outcomes[0]);
      }),
      RUNS,
    );
  });

  it('is deterministic: the same bytes and ctx give deep-equal outcomes', () => {
    fc.assert(
      fc.property(anyBytesArb, (bytes) => {
        const copy = bytes === null ? null : Uint8Array.from(bytes);
        const first = transformRecord(bytes, CTX);
        const second = transformRecord(copy, { ...CTX, source: { ...CTX.source } });
        assert.deepStrictEqual(second, first);
        if (bytes !== null) assert.deepStrictEqual(Uint8Array.from(bytes), copy, 'the input bytes were modified');
      }),
      RUNS,
    );
  });
});
