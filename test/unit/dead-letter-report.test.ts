/**
 * Dead letters for `npm run dlq`: what their headers say (any header missing or broken), the
 * window and filters, grouping with counts, first and last seen and the newest sample, and bytes
 * as text only when printable.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { deadLetterHeaders } from '../../src/domain/dead-letter';
import {
  DeadLetterGroups,
  describeDeadLetter,
  hexDump,
  matchesFilter,
  printableText,
  viewBytes,
  type RawRecord,
} from '../../src/domain/dead-letter-report';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const SOURCE = { topic: 'user-login', partition: 1, offset: '42' };

function record(changes: Partial<RawRecord> = {}, failedAtMs = T0): RawRecord {
  return {
    partition: 0,
    offset: '7',
    timestamp: failedAtMs + 50,
    key: Buffer.from('key-1'),
    value: Buffer.from('{"user_id": "u", '),
    headers: deadLetterHeaders(SOURCE, 'group/user-login/1/40', { reason: 'invalid_json', error: 'The value is not valid JSON (it ends too early).' }, new Date(failedAtMs).toISOString()),
    ...changes,
  };
}

describe('dead-letter report', () => {
  it('reads what the product writes, from bytes as kafkajs hands them over', () => {
    const headers = Object.fromEntries(
      Object.entries(deadLetterHeaders(SOURCE, 'b-1', { reason: 'invalid_field', field: 'ip', error: 'ip "1.2.3" is not an IPv4 or IPv6 address.' }, new Date(T0).toISOString())).map(([k, v]) => [k, Buffer.from(v)]),
    );
    const info = describeDeadLetter(record({ headers }));
    assert.deepEqual(info, {
      partition: 0,
      offset: '7',
      reason: 'invalid_field',
      field: 'ip',
      error: 'ip "1.2.3" is not an IPv4 or IPv6 address.',
      failedAt: new Date(T0).toISOString(),
      seenAtMs: T0,
      source: SOURCE,
      batchId: 'b-1',
      problems: [],
    });
    assert.equal(describeDeadLetter(record()).field, null, 'no dlq.field: no field, and no problem');
  });

  it('never drops a dead letter whose headers are missing or broken: "unknown", placed by its Kafka timestamp', () => {
    const bare = describeDeadLetter(record({ headers: {} }));
    assert.equal(bare.reason, 'unknown');
    assert.equal(bare.field, null);
    assert.equal(bare.error, null);
    assert.equal(bare.failedAt, null);
    assert.equal(bare.seenAtMs, T0 + 50);
    assert.equal(bare.source, null);
    assert.deepEqual(bare.problems, [
      'dlq.reason is missing',
      'dlq.error is missing',
      'dlq.failed_at is missing',
      'dlq.source.topic is missing',
      'dlq.source.partition is missing',
      'dlq.source.offset is missing',
      'dlq.batch_id is missing',
    ]);

    const broken = describeDeadLetter(
      record({
        headers: {
          ...record().headers,
          'dlq.reason': Buffer.from([0xc3, 0x28]),
          'dlq.field': Buffer.from('\u001b[31m'),
          'dlq.failed_at': 'yesterday',
          'dlq.source.partition': '-1',
        },
      }),
    );
    assert.equal(broken.reason, 'unknown');
    assert.equal(broken.field, 'unknown', 'a field header that is there but unreadable');
    assert.equal(broken.seenAtMs, T0 + 50);
    assert.equal(broken.source, null);
    assert.deepEqual(broken.problems, ['dlq.reason is unreadable', 'dlq.field is unreadable', 'dlq.failed_at is not a time', 'dlq.source.partition is not a number']);

    const repeated = describeDeadLetter(record({ headers: { ...record().headers, 'dlq.reason': [Buffer.from('missing_field'), Buffer.from('other')] } }));
    assert.equal(repeated.reason, 'missing_field', 'a repeated header: its first value');
  });

  it('filters on the window [since, until) and on reason and field', () => {
    const info = describeDeadLetter(record());
    assert.ok(matchesFilter(info, { sinceMs: T0, untilMs: T0 + 1 }));
    assert.ok(!matchesFilter(info, { sinceMs: T0 + 1 }));
    assert.ok(!matchesFilter(info, { untilMs: T0 }));
    assert.ok(matchesFilter(info, { reason: 'invalid_json' }));
    assert.ok(!matchesFilter(info, { reason: 'invalid_field' }));
    assert.ok(!matchesFilter(info, { field: 'ip' }));
  });

  it('groups by reason, field and error: counts, first and last seen, the newest as sample', () => {
    const groups = new DeadLetterGroups();
    groups.add(record({ offset: '1' }, T0 + 2_000));
    groups.add(record({ offset: '2' }, T0));
    groups.add(record({ offset: '3' }, T0 + 1_000));
    const other = (offset: string, failedAt: number) =>
      record({ offset, headers: deadLetterHeaders(SOURCE, 'b', { reason: 'missing_field', field: 'user_id', error: 'user_id is missing.' }, new Date(failedAt).toISOString()) });
    groups.add(other('4', T0 + 5_000));
    groups.add(record({ offset: '5', headers: {} }, T0 + 9_000));
    const list = groups.list();
    assert.equal(groups.total, 5);
    assert.deepEqual(
      list.map((g) => [g.reason, g.field, g.count, g.first_seen, g.last_seen, g.sample.offset, g.malformed]),
      [
        ['invalid_json', null, 3, new Date(T0).toISOString(), new Date(T0 + 2_000).toISOString(), '1', 0],
        ['unknown', null, 1, new Date(T0 + 9_050).toISOString(), new Date(T0 + 9_050).toISOString(), '5', 1],
        ['missing_field', 'user_id', 1, new Date(T0 + 5_000).toISOString(), new Date(T0 + 5_000).toISOString(), '4', 0],
      ],
      'largest first, then the most recently seen',
    );
    assert.deepEqual(list[0]!.sample.source, SOURCE);
    assert.deepEqual(list[0]!.sample.key, { bytes: 5, encoding: 'text', data: 'key-1', truncated: false });
  });

  it('keeps errors that differ apart', () => {
    const groups = new DeadLetterGroups();
    for (const error of ['a.', 'b.', 'a.']) groups.add(record({ headers: deadLetterHeaders(SOURCE, 'b', { reason: 'invalid_field', field: 'x', error }, new Date(T0).toISOString()) }));
    assert.deepEqual(groups.list().map((g) => [g.error, g.count]), [['a.', 2], ['b.', 1]]);
  });

  it('shows bytes as text only when they are printable UTF-8, else as hex; cut to a limit, never inside a character', () => {
    assert.deepEqual(viewBytes(null, 10), { bytes: 0, encoding: 'null', data: '', truncated: false });
    assert.deepEqual(viewBytes(Buffer.from('{"a":1}\n\ttab'), 100), { bytes: 12, encoding: 'text', data: '{"a":1}\n\ttab', truncated: false });
    assert.deepEqual(viewBytes(Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x80]), 100), { bytes: 5, encoding: 'hex', data: 'fffe007b80', truncated: false });
    assert.deepEqual(viewBytes(Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x80]), 2), { bytes: 5, encoding: 'hex', data: 'fffe', truncated: true });
    assert.equal(viewBytes(Buffer.from('say \u001b[2J'), 100).encoding, 'hex', 'a terminal escape is not text');
    assert.equal(viewBytes(Buffer.from('abc\u202edef'), 100).encoding, 'hex', 'a bidirectional override is not text');
    assert.equal(viewBytes(Buffer.from([0x61, 0x00]), 100).encoding, 'hex');
    assert.deepEqual(viewBytes(Buffer.from('😀😀😀'), 2), { bytes: 12, encoding: 'text', data: '😀😀', truncated: true });
    assert.deepEqual(viewBytes(Buffer.from('ab😀'), 3), { bytes: 6, encoding: 'text', data: 'ab😀', truncated: false });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 80 }), (bytes, limit) => {
        const view = viewBytes(bytes, limit);
        if (view.encoding === 'hex') return Buffer.from(view.data, 'hex').equals(Buffer.from(bytes.subarray(0, limit)));
        const text = printableText(bytes)!;
        return text.startsWith(view.data) && view.truncated === (view.data.length < text.length);
      }),
    );
  });

  it('dumps bytes as offset, hex and ASCII', () => {
    const bytes = Buffer.concat([Buffer.from('0123456789abcdef'), Buffer.from([0xff, 0x00, 0x7b])]);
    assert.deepEqual(hexDump(bytes), [
      '00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|',
      '00000010  ff 00 7b                                          |..{|',
    ]);
    assert.deepEqual(hexDump(Buffer.alloc(0)), []);
  });
});
