/**
 * transformRecord against CONTRACT.md "Input: a record on INPUT_TOPIC" and "Output 1": one table
 * of cases, one `it` per case, both sides of every boundary. Valid cases compare the whole
 * output object; invalid cases compare reason and field, and check the error sentence.
 */
import assert from 'node:assert/strict';
import { appVersionPattern, transformRecord, type TransformContext, type TransformOutcome } from '../../src/domain/transform';
import type { DeadLetterReason, ProcessedLogin } from '../../src/domain/types';

/** Fixed processing time, with a fraction of a second to check the upper limit is floored. */
const NOW_MS = Date.UTC(2024, 6, 10, 12, 0, 0, 500);
const NOW_S = 1_720_612_800; // floor(NOW_MS / 1000) = 2024-07-10T12:00:00Z
const LATEST = NOW_S + 86_400; // 2024-07-11T12:00:00Z
const SOURCE = { topic: 'user-login', partition: 3, offset: '9007199254740993' };
const CTX: TransformContext = { source: SOURCE, batchId: 'batch-0001', nowMs: NOW_MS };

const USER = '7f0e6d6c-3b0a-4b8e-9c2a-1d7a3c5e9f01';
const DEVICE = 'c2a6a3a4-2f4e-4c3b-8e8d-5b1c9e0f7a12';
/** The contract's example record. */
const BASE: Record<string, unknown> = {
  user_id: USER,
  app_version: '2.3.0',
  ip: '25.67.253.124',
  locale: 'WA',
  device_id: DEVICE,
  timestamp: 1_720_589_697,
  device_type: 'iOS',
};
/** The contract's example output for BASE. */
const BASE_OUT: ProcessedLogin = {
  type: 'login',
  user_id: USER,
  app_version: '2.3.0',
  device_type: 'ios',
  locale: 'WA',
  ip: '25.67.253.124',
  device_id: DEVICE,
  timestamp: 1_720_589_697,
  login_at: '2024-07-10T05:34:57.000Z',
  missing_fields: [],
  source: SOURCE,
  batch_id: 'batch-0001',
  processed_at: '2024-07-10T12:00:00.500Z',
};
const CONTRACT_KEYS = [
  'app_version', 'batch_id', 'device_id', 'device_type', 'ip', 'locale', 'login_at', 'missing_fields', 'processed_at',
  'source', 'timestamp', 'type', 'user_id',
];

const KB900 = 900 * 1024;
/** Object.prototype as it was before any case ran. */
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();
const big = (ch = 'x'): string => ch.repeat(KB900);
const astral = (n: number): string => '😀'.repeat(n);

/** BASE with some fields replaced; a field set to undefined is left out. */
function rec(changes: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ ...BASE, ...changes }));
}
/** Raw JSON text of BASE with extra members spliced in (for keys JSON.stringify cannot write as own keys). */
function recWith(extraMembers: string, changes: Record<string, unknown> = {}): Buffer {
  const body = JSON.stringify({ ...BASE, ...changes });
  return Buffer.from(`{${extraMembers}${body.length > 2 ? ',' : ''}${body.slice(1)}`);
}
const text = (s: string): Buffer => Buffer.from(s, 'utf8');

type Input = Buffer | null | (() => Buffer | null);

interface Case {
  name: string;
  input: Input;
  ctx?: Partial<TransformContext>;
  /** Valid: the full expected login. Invalid: reason and field. */
  expect: { login: ProcessedLogin } | { reason: DeadLetterReason; field?: string };
  extra?: (outcome: TransformOutcome) => void;
}

const cases: Case[] = [];
function ok(name: string, input: Input, out: Partial<ProcessedLogin>, more: Partial<Case> = {}): void {
  cases.push({ name: `valid: ${name}`, input, expect: { login: { ...BASE_OUT, ...out } }, ...more });
}
function bad(name: string, input: Input, reason: DeadLetterReason, field?: string, more: Partial<Case> = {}): void {
  cases.push({ name: `${reason}${field ? `(${field})` : ''}: ${name}`, input, expect: field === undefined ? { reason } : { reason, field }, ...more });
}
const missing = (...names: string[]): Partial<ProcessedLogin> => ({ missing_fields: names });

// ---------- the value ----------
ok('the contract example', rec(), {});
ok('whitespace around the object', text(`  \n\t${JSON.stringify(BASE)}\r\n `), {});
ok('a UTF-8 BOM before the object', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), rec()]), {});
bad('a null value', null, 'invalid_json');
bad('an empty buffer', Buffer.alloc(0), 'invalid_json');
bad('whitespace only', text(' \n\t '), 'invalid_json');
bad('a BOM only', Buffer.from([0xef, 0xbb, 0xbf]), 'invalid_json');
bad('two BOMs before the object', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), rec()]), 'invalid_json');
bad('invalid UTF-8 (ff fe 7b)', Buffer.from([0xff, 0xfe, 0x7b]), 'invalid_json');
bad('invalid UTF-8 inside an otherwise valid record', Buffer.concat([text('{"user_id":"'), Buffer.from([0xc3, 0x28]), text('","app_version":"2.3.0","timestamp":1720589697}')]), 'invalid_json');
bad('an overlong UTF-8 encoding of "{"', Buffer.from([0xc1, 0xbb, 0x7d]), 'invalid_json');
bad('a UTF-8-encoded lone surrogate (CESU)', Buffer.concat([text('{"user_id":"'), Buffer.from([0xed, 0xa0, 0x80]), text('"}')]), 'invalid_json');
bad('binary bytes', Buffer.from([0x00, 0x01, 0x02, 0x80, 0x81, 0xfe, 0xff, 0x10]), 'invalid_json');
bad('binary bytes that happen to be UTF-8', Buffer.from([0x00, 0x01, 0x02, 0x03, 0x7f]), 'invalid_json');
bad('the record encoded as UTF-16LE', Buffer.from(JSON.stringify(BASE), 'utf16le'), 'invalid_json');
bad('plain text', text('not json'), 'invalid_json');
bad('truncated JSON', text(JSON.stringify(BASE).slice(0, -1)), 'invalid_json');
bad('a trailing comma', text('{"user_id":"u","app_version":"2.3.0","timestamp":1720589697,}'), 'invalid_json');
bad('two objects', text(`${JSON.stringify(BASE)}${JSON.stringify(BASE)}`), 'invalid_json');
bad('a 900 KB unterminated string', () => text(`{"user_id":"${big()}`), 'invalid_json');
bad('JSON null', text('null'), 'not_an_object');
bad('JSON array (empty)', text('[]'), 'not_an_object');
bad('JSON array holding a valid record', text(`[${JSON.stringify(BASE)}]`), 'not_an_object');
bad('JSON number', text('42'), 'not_an_object');
bad('JSON string', text('"{}"'), 'not_an_object');
bad('JSON string holding a valid record', text(JSON.stringify(JSON.stringify(BASE))), 'not_an_object');
bad('JSON true', text('true'), 'not_an_object');
bad('100000 nested arrays as the whole value', () => text(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), 'not_an_object');
bad('100000 nested objects as the whole value', () => text(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`), 'missing_field', 'user_id');
bad('an empty object', text('{}'), 'missing_field', 'user_id');

// ---------- user_id ----------
bad('user_id absent', rec({ user_id: undefined }), 'missing_field', 'user_id');
bad('user_id null', rec({ user_id: null }), 'missing_field', 'user_id');
bad('user_id empty', rec({ user_id: '' }), 'invalid_field', 'user_id');
bad('user_id spaces only', rec({ user_id: '   ' }), 'invalid_field', 'user_id');
bad('user_id tabs and newlines only', rec({ user_id: '\t\r\n' }), 'invalid_field', 'user_id');
bad('user_id a number', rec({ user_id: 42 }), 'invalid_field', 'user_id');
bad('user_id true', rec({ user_id: true }), 'invalid_field', 'user_id');
bad('user_id an object', rec({ user_id: { id: USER } }), 'invalid_field', 'user_id');
bad('user_id an array', rec({ user_id: [USER] }), 'invalid_field', 'user_id');
ok('user_id of 1 character', rec({ user_id: 'u' }), { user_id: 'u' });
ok('user_id of 256 ASCII characters', rec({ user_id: 'a'.repeat(256) }), { user_id: 'a'.repeat(256) });
bad('user_id of 257 ASCII characters', rec({ user_id: 'a'.repeat(257) }), 'invalid_field', 'user_id');
ok('user_id of 256 astral characters (512 UTF-16 units)', rec({ user_id: astral(256) }), { user_id: astral(256) });
bad('user_id of 257 astral characters', rec({ user_id: astral(257) }), 'invalid_field', 'user_id');
ok('user_id of 255 ASCII + 1 astral (257 units, 256 code points)', rec({ user_id: `${'a'.repeat(255)}😀` }), { user_id: `${'a'.repeat(255)}😀` });
bad('user_id of 900 KB', () => rec({ user_id: big() }), 'invalid_field', 'user_id');
ok('user_id with surrounding spaces is kept as it is', rec({ user_id: ' u 1 ' }), { user_id: ' u 1 ' });
ok('user_id non-ASCII', rec({ user_id: 'José-日本' }), { user_id: 'José-日本' });

// ---------- app_version ----------
bad('app_version absent', rec({ app_version: undefined }), 'missing_field', 'app_version');
bad('app_version null', rec({ app_version: null }), 'missing_field', 'app_version');
bad('app_version a number', rec({ app_version: 2.3 }), 'invalid_field', 'app_version');
bad('app_version an array', rec({ app_version: [2, 3, 0] }), 'invalid_field', 'app_version');
for (const v of ['2.3.0', '3.1', '7', '0.0.0', '1.2.3.4', '10.200.3000', '2.3.0-beta.1', '2.3.0+build.5', '2.3.0-rc.1+b7', '1-alpha', '01.2']) {
  ok(`app_version ${JSON.stringify(v)}`, rec({ app_version: v }), { app_version: v });
}
for (const v of ['1.2.3.4.5', 'v2.3', '2..3', '', ' ', '2.3.', '.2.3', ' 2.3.0', '2.3.0 ', '2.3.0\n', '-1.2', '1.2.x', '2.3.0-', '2.3.0+', '2.3.0-beta..1', '2.3.0+b+c', '١.٢', 'latest']) {
  bad(`app_version ${JSON.stringify(v)}`, rec({ app_version: v }), 'invalid_field', 'app_version');
}
const version128 = `1.2.3-${'a'.repeat(122)}`;
ok('app_version of 128 characters', rec({ app_version: version128 }), { app_version: version128 });
bad('app_version of 129 characters', rec({ app_version: `${version128}a` }), 'invalid_field', 'app_version');
bad('app_version of 900 KB', () => rec({ app_version: `1.2.3-${big()}` }), 'invalid_field', 'app_version');

// ---------- timestamp ----------
const at = (timestamp: number, login_at: string): Partial<ProcessedLogin> => ({ timestamp, login_at });
bad('timestamp absent', rec({ timestamp: undefined }), 'missing_field', 'timestamp');
bad('timestamp null', rec({ timestamp: null }), 'missing_field', 'timestamp');
bad('timestamp 946684799 (one second before 2000)', rec({ timestamp: 946_684_799 }), 'invalid_field', 'timestamp');
ok('timestamp 946684800 (2000-01-01T00:00:00Z)', rec({ timestamp: 946_684_800 }), at(946_684_800, '2000-01-01T00:00:00.000Z'));
bad('timestamp "946684799"', rec({ timestamp: '946684799' }), 'invalid_field', 'timestamp');
ok('timestamp "946684800"', rec({ timestamp: '946684800' }), at(946_684_800, '2000-01-01T00:00:00.000Z'));
ok('timestamp now + 86400', rec({ timestamp: LATEST }), at(LATEST, '2024-07-11T12:00:00.000Z'));
bad('timestamp now + 86401', rec({ timestamp: LATEST + 1 }), 'invalid_field', 'timestamp');
ok('timestamp now + 86400 as a digit string', rec({ timestamp: String(LATEST) }), at(LATEST, '2024-07-11T12:00:00.000Z'));
bad('timestamp now + 86401 as a digit string', rec({ timestamp: String(LATEST + 1) }), 'invalid_field', 'timestamp');
bad('timestamp 999999999999 (seconds, year 33658)', rec({ timestamp: 999_999_999_999 }), 'invalid_field', 'timestamp');
ok('timestamp 1000000000000 (milliseconds)', rec({ timestamp: 1_000_000_000_000 }), at(1_000_000_000, '2001-09-09T01:46:40.000Z'));
ok('timestamp "1000000000000" (milliseconds)', rec({ timestamp: '1000000000000' }), at(1_000_000_000, '2001-09-09T01:46:40.000Z'));
ok('timestamp 1720589697123 ms floored', rec({ timestamp: 1_720_589_697_123 }), at(1_720_589_697, '2024-07-10T05:34:57.000Z'));
ok('timestamp 1720589697999 ms floored', rec({ timestamp: 1_720_589_697_999 }), at(1_720_589_697, '2024-07-10T05:34:57.000Z'));
ok('timestamp (now + 86400) s + 999 ms', rec({ timestamp: LATEST * 1000 + 999 }), at(LATEST, '2024-07-11T12:00:00.000Z'));
bad('timestamp (now + 86401) s in ms', rec({ timestamp: (LATEST + 1) * 1000 }), 'invalid_field', 'timestamp');
ok('timestamp as a digit string', rec({ timestamp: '1720589697' }), {});
ok('timestamp as a digit string with leading zeros', rec({ timestamp: '0001720589697' }), {});
ok('timestamp written 1720589697.0 in JSON (an integer value)', text(JSON.stringify(BASE).replace('1720589697', '1720589697.0')), {});
ok('timestamp written 1.720589697e9 in JSON (an integer value)', text(JSON.stringify(BASE).replace('1720589697', '1.720589697e9')), {});
bad('timestamp 1720589697.5', rec({ timestamp: 1_720_589_697.5 }), 'invalid_field', 'timestamp');
bad('timestamp 1720589697123.5 ms', rec({ timestamp: 1_720_589_697_123.5 }), 'invalid_field', 'timestamp');
bad('timestamp "1720589697.5"', rec({ timestamp: '1720589697.5' }), 'invalid_field', 'timestamp');
bad('timestamp negative', rec({ timestamp: -1_720_589_697 }), 'invalid_field', 'timestamp');
bad('timestamp "-1720589697"', rec({ timestamp: '-1720589697' }), 'invalid_field', 'timestamp');
bad('timestamp "+1720589697"', rec({ timestamp: '+1720589697' }), 'invalid_field', 'timestamp');
bad('timestamp -0', text(JSON.stringify(BASE).replace('1720589697', '-0')), 'invalid_field', 'timestamp');
bad('timestamp 0', rec({ timestamp: 0 }), 'invalid_field', 'timestamp');
bad('timestamp " 1720589697"', rec({ timestamp: ' 1720589697' }), 'invalid_field', 'timestamp');
bad('timestamp "1720589697 "', rec({ timestamp: '1720589697 ' }), 'invalid_field', 'timestamp');
bad('timestamp ""', rec({ timestamp: '' }), 'invalid_field', 'timestamp');
bad('timestamp "1.72e9"', rec({ timestamp: '1.72e9' }), 'invalid_field', 'timestamp');
bad('timestamp "0x668E1E81"', rec({ timestamp: '0x668E1E81' }), 'invalid_field', 'timestamp');
bad('timestamp in full-width digits', rec({ timestamp: '１７２０５８９６９７' }), 'invalid_field', 'timestamp');
bad('timestamp in Arabic-Indic digits', rec({ timestamp: '١٧٢٠٥٨٩٦٩٧' }), 'invalid_field', 'timestamp');
bad('timestamp 1e300', rec({ timestamp: 1e300 }), 'invalid_field', 'timestamp');
bad('timestamp of 400 digits', rec({ timestamp: '9'.repeat(400) }), 'invalid_field', 'timestamp');
bad('timestamp of 900 KB digits', () => rec({ timestamp: big('9') }), 'invalid_field', 'timestamp');
bad('timestamp true', rec({ timestamp: true }), 'invalid_field', 'timestamp');
bad('timestamp false', rec({ timestamp: false }), 'invalid_field', 'timestamp');
bad('timestamp an object', rec({ timestamp: { seconds: 1_720_589_697 } }), 'invalid_field', 'timestamp');
bad('timestamp an array', rec({ timestamp: [1_720_589_697] }), 'invalid_field', 'timestamp');
bad('timestamp an ISO string', rec({ timestamp: '2024-07-10T05:34:57Z' }), 'invalid_field', 'timestamp');

// ---------- device_type ----------
ok('device_type "  iOS " trimmed and lower-cased', rec({ device_type: '  iOS ' }), { device_type: 'ios' });
ok('device_type "ANDROID"', rec({ device_type: 'ANDROID' }), { device_type: 'android' });
ok('device_type "unknown" sent as such is not missing', rec({ device_type: 'unknown' }), { device_type: 'unknown' });
ok('device_type absent', rec({ device_type: undefined }), { device_type: 'unknown', ...missing('device_type') });
ok('device_type null', rec({ device_type: null }), { device_type: 'unknown', ...missing('device_type') });
ok('device_type ""', rec({ device_type: '' }), { device_type: 'unknown', ...missing('device_type') });
ok('device_type blank', rec({ device_type: ' \t\n ' }), { device_type: 'unknown', ...missing('device_type') });
bad('device_type a number', rec({ device_type: 1 }), 'invalid_field', 'device_type');
bad('device_type true', rec({ device_type: true }), 'invalid_field', 'device_type');
bad('device_type an object', rec({ device_type: { name: 'iOS' } }), 'invalid_field', 'device_type');
bad('device_type an array', rec({ device_type: ['iOS'] }), 'invalid_field', 'device_type');

// ---------- locale ----------
ok('locale " wa" trimmed and upper-cased', rec({ locale: ' wa' }), { locale: 'WA' });
ok('locale "ca"', rec({ locale: 'ca' }), { locale: 'CA' });
ok('locale "en-us "', rec({ locale: 'en-us ' }), { locale: 'EN-US' });
ok('locale absent', rec({ locale: undefined }), { locale: 'unknown', ...missing('locale') });
ok('locale null', rec({ locale: null }), { locale: 'unknown', ...missing('locale') });
ok('locale blank', rec({ locale: '   ' }), { locale: 'unknown', ...missing('locale') });
bad('locale a number', rec({ locale: 5 }), 'invalid_field', 'locale');
bad('locale false', rec({ locale: false }), 'invalid_field', 'locale');
bad('locale an object', rec({ locale: {} }), 'invalid_field', 'locale');

// ---------- ip ----------
for (const ip of ['25.67.253.124', '0.0.0.0', '255.255.255.255', '::1', '::', '2001:db8::1', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8', 'FE80::ABCD']) {
  ok(`ip ${ip}`, rec({ ip }), { ip });
}
ok('ip with surrounding spaces is trimmed', rec({ ip: ' 25.67.253.124 ' }), { ip: '25.67.253.124' });
for (const ip of ['256.1.1.1', '1.2.3', '01.2.3.4', '1.2.3.4.5', '1.2.3.-1', 'a.b.c.d', 'localhost', '1.2.3.4/24', '1.2.3.4:80', '2001:db8::1::1', ':::1', '12345::1', '1:2:3:4:5:6:7:8:9', 'g::1', '[::1]', '1 .2.3.4']) {
  bad(`ip ${JSON.stringify(ip)}`, rec({ ip }), 'invalid_field', 'ip');
}
bad('ip of 900 KB', () => rec({ ip: big('1') }), 'invalid_field', 'ip');
bad('ip a number', rec({ ip: 16_909_060 }), 'invalid_field', 'ip');
bad('ip an array', rec({ ip: ['1.2.3.4'] }), 'invalid_field', 'ip');
bad('ip an object', rec({ ip: { v4: '1.2.3.4' } }), 'invalid_field', 'ip');
ok('ip absent', rec({ ip: undefined }), { ip: null, ...missing('ip') });
ok('ip null', rec({ ip: null }), { ip: null, ...missing('ip') });
ok('ip ""', rec({ ip: '' }), { ip: null, ...missing('ip') });
ok('ip blank', rec({ ip: '  ' }), { ip: null, ...missing('ip') });
const truncate: Partial<Case> = { ctx: { ipMasking: 'truncate' } };
ok('ipMasking none keeps the address', rec(), {}, { ctx: { ipMasking: 'none' } });
ok('ipMasking truncate: IPv4 to /24', rec(), { ip: '25.67.253.0' }, truncate);
ok('ipMasking truncate: trimmed IPv4 to /24', rec({ ip: ' 10.1.2.3 ' }), { ip: '10.1.2.0' }, truncate);
ok('ipMasking truncate: 2001:db8:abcd:12::1 to /48', rec({ ip: '2001:db8:abcd:12::1' }), { ip: '2001:db8:abcd::' }, truncate);
ok('ipMasking truncate: 1:2:3:4:5:6:7:8 to /48', rec({ ip: '1:2:3:4:5:6:7:8' }), { ip: '1:2:3::' }, truncate);
ok('ipMasking truncate: 2001:db8::1 to /48', rec({ ip: '2001:db8::1' }), { ip: '2001:db8:0::' }, truncate);
ok('ipMasking truncate: ::1 to /48', rec({ ip: '::1' }), { ip: '0:0:0::' }, truncate);
ok('ipMasking truncate: ::ffff:1.2.3.4 is masked as the IPv4 address it is (/24)', rec({ ip: '::ffff:1.2.3.4' }), { ip: '::ffff:1.2.3.0' }, truncate);
ok('ipMasking truncate: absent ip stays null', rec({ ip: undefined }), { ip: null, ...missing('ip') }, truncate);
bad('ipMasking truncate: an invalid ip is still invalid', rec({ ip: '256.1.1.1' }), 'invalid_field', 'ip', truncate);

// ---------- device_id ----------
ok('device_id absent', rec({ device_id: undefined }), { device_id: null, ...missing('device_id') });
ok('device_id null', rec({ device_id: null }), { device_id: null, ...missing('device_id') });
ok('device_id blank', rec({ device_id: ' ' }), { device_id: null, ...missing('device_id') });
ok('device_id is kept exactly as sent (an identifier is not trimmed)', rec({ device_id: '  abc  ' }), { device_id: '  abc  ' });
ok('device_id of 900 KB', () => rec({ device_id: big('d') }), { device_id: big('d') });
bad('device_id a number', rec({ device_id: 42 }), 'invalid_field', 'device_id');
bad('device_id an object', rec({ device_id: { id: DEVICE } }), 'invalid_field', 'device_id');

// ---------- missing_fields ----------
ok(
  'all four optional fields absent: missing_fields sorted',
  rec({ device_type: undefined, locale: undefined, ip: undefined, device_id: undefined }),
  { device_type: 'unknown', locale: 'unknown', ip: null, device_id: null, ...missing('device_id', 'device_type', 'ip', 'locale') },
);
ok(
  'locale null, ip blank, device_type absent: missing_fields sorted',
  rec({ locale: null, ip: ' ', device_type: undefined }),
  { device_type: 'unknown', locale: 'unknown', ip: null, ...missing('device_type', 'ip', 'locale') },
);
ok('the minimal record (required fields only)', text('{"timestamp":1720589697,"app_version":"2.3.0","user_id":"u"}'), {
  user_id: 'u', device_type: 'unknown', locale: 'unknown', ip: null, device_id: null, ...missing('device_id', 'device_type', 'ip', 'locale'),
});

// ---------- hostile keys and extra keys ----------
const noPollution = (outcome: TransformOutcome): void => {
  assert.equal(JSON.stringify(outcome).includes('isAdmin'), false, 'isAdmin leaked into the outcome');
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined, 'Object.prototype polluted');
  if (outcome.ok) {
    assert.equal(Object.getPrototypeOf(outcome.login), Object.prototype);
    assert.equal((outcome.login as unknown as Record<string, unknown>).isAdmin, undefined);
  }
};
bad('user_id only under "__proto__"', text('{"__proto__":{"user_id":"x","app_version":"2.3.0","timestamp":1720589697}}'), 'missing_field', 'user_id', { extra: noPollution });
bad('user_id only under "constructor"', text('{"constructor":{"user_id":"x"},"app_version":"2.3.0","timestamp":1720589697}'), 'missing_field', 'user_id');
bad('user_id only under "prototype"', text('{"prototype":{"user_id":"x"},"app_version":"2.3.0","timestamp":1720589697}'), 'missing_field', 'user_id');
ok('valid fields plus "__proto__": {"isAdmin": true}', recWith('"__proto__":{"isAdmin":true}'), {}, { extra: noPollution });
ok('valid fields plus "__proto__" after them', text(`${JSON.stringify(BASE).slice(0, -1)},"__proto__":{"isAdmin":true,"device_type":"evil"}}`), {}, { extra: noPollution });
ok('valid fields plus "__proto__": null', recWith('"__proto__":null'), {});
ok('valid fields plus "constructor": {"prototype": {"isAdmin": true}}', recWith('"constructor":{"prototype":{"isAdmin":true}}'), {}, { extra: noPollution });
ok('valid fields plus "prototype": {"isAdmin": true}', recWith('"prototype":{"isAdmin":true}'), {}, { extra: noPollution });
ok('valid fields plus "hasOwnProperty" and "toString" keys', recWith('"hasOwnProperty":1,"toString":"x","valueOf":null'), {});
ok('device_type "__proto__" is a plain value', rec({ device_type: '__proto__' }), { device_type: '__proto__' });
ok(
  'extra keys, including output field names, are never copied',
  rec({ extra: 1, type: 'summary', source: 'evil', batch_id: 'evil', processed_at: 'evil', login_at: '1999', missing_fields: ['x'], isAdmin: true }),
  {},
  { extra: noPollution },
);
ok('100000 nested arrays inside an ignored key', () => recWith(`"deep":${'['.repeat(100_000)}${']'.repeat(100_000)}`), {});
ok('100000 nested objects inside an ignored key', () => recWith(`"deep":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`), {});
ok('a 900 KB string in an ignored key', () => rec({ notes: big() }), {});
ok('ipMasking and source come from ctx, not from the record', rec({ ipMasking: 'truncate', source: SOURCE }), {});

/** `error` is one readable sentence: non-empty, short, one line, no raw input, well-formed text. */
function assertSentence(error: unknown): void {
  assert.equal(typeof error, 'string');
  const s = error as string;
  assert.ok(s.trim().length > 0, 'error is empty');
  assert.ok(s.length < 300, `error is ${s.length} characters long`);
  assert.equal(s, s.trim(), 'error has surrounding whitespace');
  assert.match(s, /[.!?]$/, 'error does not end like a sentence');
  assert.doesNotMatch(s, /[\u0000-\u001f\u007f]/, `error contains a control character: ${JSON.stringify(s)}`);
  assert.doesNotMatch(s, /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/, `error contains a lone surrogate: ${JSON.stringify(s)}`);
}

function run(c: Case): TransformOutcome {
  const input = typeof c.input === 'function' ? c.input() : c.input;
  return transformRecord(input, { ...CTX, ...c.ctx });
}

describe('transformRecord: contract record rules', function () {
  this.timeout(10_000);

  for (const c of cases) {
    it(c.name, () => {
      const outcome = run(c);
      if ('login' in c.expect) {
        if (!outcome.ok) assert.fail(`expected a login, got ${JSON.stringify(outcome.rejection)}`);
        assert.deepStrictEqual(outcome, { ok: true, login: c.expect.login });
        assert.deepStrictEqual(Object.keys(outcome.login).sort(), CONTRACT_KEYS);
      } else {
        if (outcome.ok) assert.fail(`expected ${c.expect.reason}, got a login`);
        const { rejection } = outcome;
        assert.equal(rejection.reason, c.expect.reason, rejection.error);
        assert.equal(rejection.field, c.expect.field, rejection.error);
        assert.equal('field' in rejection, c.expect.field !== undefined, 'field present on a non-field error');
        assert.deepStrictEqual(Object.keys(rejection).sort(), c.expect.field === undefined ? ['error', 'reason'] : ['error', 'field', 'reason']);
        assertSentence(rejection.error);
      }
      c.extra?.(outcome);
    });
  }

  describe('error sentences quoting raw input', () => {
    // V8's JSON.parse message quotes a raw snippet of the input; the sentence must stay one clean line.
    it('invalid JSON that spans lines gives a one-line error', () => {
      const outcome = transformRecord(text('{"a": [1,2,\n  3,,]}'), CTX);
      assert.equal(outcome.ok, false);
      if (!outcome.ok) {
        assert.equal(outcome.rejection.reason, 'invalid_json');
        assertSentence(outcome.rejection.error);
      }
    });
    it('invalid JSON starting with emoji gives a well-formed error', () => {
      const outcome = transformRecord(text(`x${'😀'.repeat(40)}`), CTX);
      assert.equal(outcome.ok, false);
      if (!outcome.ok) {
        assert.equal(outcome.rejection.reason, 'invalid_json');
        assertSentence(outcome.rejection.error);
      }
    });
  });

  it('leaves Object.prototype unpolluted after every case', () => {
    for (const c of cases) run(c);
    assert.deepStrictEqual(Object.getOwnPropertyNames(Object.prototype).sort(), PROTOTYPE_KEYS);
    for (const key of ['isAdmin', 'user_id', 'app_version', 'timestamp', 'device_type']) {
      assert.equal(Object.hasOwn(Object.prototype, key), false, `Object.prototype has ${key}`);
      assert.equal(({} as Record<string, unknown>)[key], undefined);
    }
  });

  it('reads own properties only, even when Object.prototype is polluted by someone else', () => {
    const proto = Object.prototype as Record<string, unknown>;
    const names = ['user_id', 'ip', 'device_type', 'locale', 'device_id'];
    try {
      for (const name of names) proto[name] = name === 'ip' ? 'not-an-ip' : 'inherited';
      const noUser = transformRecord(text('{"app_version":"2.3.0","timestamp":1720589697}'), CTX);
      assert.deepStrictEqual(noUser.ok ? 'ok' : [noUser.rejection.reason, noUser.rejection.field], ['missing_field', 'user_id']);
      const minimal = transformRecord(text('{"user_id":"u","app_version":"2.3.0","timestamp":1720589697}'), CTX);
      if (!minimal.ok) return assert.fail(JSON.stringify(minimal.rejection));
      assert.deepStrictEqual(
        [minimal.login.device_type, minimal.login.locale, minimal.login.ip, minimal.login.device_id, minimal.login.missing_fields],
        ['unknown', 'unknown', null, null, ['device_id', 'device_type', 'ip', 'locale']],
      );
    } finally {
      for (const name of names) delete proto[name];
    }
  });

  it('does not use the wall clock: the same record is valid or not depending on ctx.nowMs', () => {
    const record = rec({ timestamp: 1_720_589_697 });
    assert.equal(transformRecord(record, { ...CTX, nowMs: (1_720_589_697 - 86_400) * 1000 }).ok, true);
    assert.equal(transformRecord(record, { ...CTX, nowMs: (1_720_589_697 - 86_401) * 1000 }).ok, false);
    assert.equal(transformRecord(record, { ...CTX, nowMs: (1_720_589_697 - 86_400) * 1000 - 1 }).ok, false);
  });
});

describe('transformRecord: a rule widened through configuration (APP_VERSION_EXTRA_PATTERN)', () => {
  const v = (appVersion: string, pattern?: string) => transformRecord(rec({ app_version: appVersion }), { ...CTX, appVersionPattern: appVersionPattern(pattern) });

  it('keeps the contract\'s rule exactly when unset', () => {
    assert.equal(appVersionPattern(undefined), undefined);
    const outcome = v('v2.3');
    assert.ok(!outcome.ok);
    assert.equal(outcome.rejection.error, 'app_version "v2.3" is not 1 to 4 dot-separated numbers with an optional -prerelease or +build.');
    assert.equal(v('2.3.0').ok, true);
  });

  it('also accepts what the pattern matches, as a whole value, and says so when it does not', () => {
    const pattern = 'v\\d+(\\.\\d+){0,3}';
    const accepted = v('v2.3', pattern);
    assert.ok(accepted.ok);
    assert.equal(accepted.login.app_version, 'v2.3', 'kept as sent');
    assert.equal(v('2.3.0', pattern).ok, true, 'the contract\'s versions stay valid');
    // Anchored: a value that only contains a match is not accepted.
    const partial = v('xv2.3y', pattern);
    assert.ok(!partial.ok);
    assert.match(partial.rejection.error, /and does not match APP_VERSION_EXTRA_PATTERN\.$/);
    // The length limit (app_version keys Redis) still applies.
    assert.equal(v(`v${'1'.repeat(200)}`, pattern).ok, false);
  });

  it('puts replayed_from on a replayed login, and nothing on others', () => {
    const plain = transformRecord(rec({}), CTX);
    assert.ok(plain.ok && !('replayed_from' in plain.login));
    const from = { topic: 'user-login-dlq', partition: 1, offset: '42' };
    const replayed = transformRecord(rec({}), { ...CTX, replayedFrom: from });
    assert.ok(replayed.ok);
    assert.deepEqual(replayed.login.replayed_from, from);
    assert.deepEqual(replayed.login.source, SOURCE, 'the source stays the input record\'s');
  });
});
