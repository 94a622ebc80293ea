/**
 * End to end on the real stack: a mix of valid and invalid records goes through the bridge and
 * the worker; each lands exactly once, in the right place, with the right fields and headers.
 */
import assert from 'node:assert/strict';
import type { Message } from 'kafkajs';
import { connectClient } from '../../src/clients/temporal';
import { parseRanges } from '../../src/domain/batch';
import { createGenerator } from '../../src/generator/records';
import { formatAccounting } from '../helpers/accounting';
import { PipelineHarness } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

interface Case {
  value: Buffer | string | null;
  key?: Buffer | string | null;
  expect: { reason: string; field?: string } | { login: Record<string, unknown> };
}

const NOW_S = Math.floor(Date.now() / 1000);

const CASES: Case[] = [
  {
    value: JSON.stringify({ user_id: 'u-1', app_version: '2.3.0', ip: '25.67.253.124', locale: ' wa ', device_id: 'd-1', timestamp: NOW_S, device_type: 'iOS' }),
    expect: { login: { user_id: 'u-1', app_version: '2.3.0', ip: '25.67.253.124', locale: 'WA', device_id: 'd-1', timestamp: NOW_S, device_type: 'ios', missing_fields: [] } },
  },
  {
    value: `{"__proto__": {"admin": true}, ${JSON.stringify({ user_id: 'u-2', app_version: '3.1-beta.2+b7', timestamp: String(NOW_S * 1000 + 999), extra: 'dropped' }).slice(1)}`,
    expect: { login: { user_id: 'u-2', app_version: '3.1-beta.2+b7', timestamp: NOW_S, device_type: 'unknown', locale: 'unknown', ip: null, device_id: null, missing_fields: ['device_id', 'device_type', 'ip', 'locale'] } },
  },
  {
    value: JSON.stringify({ user_id: 'u-3', app_version: '2.3.0', timestamp: NOW_S, ip: '2001:db8::1', device_type: null }),
    expect: { login: { user_id: 'u-3', ip: '2001:db8::1', device_type: 'unknown', missing_fields: ['device_id', 'device_type', 'locale'] } },
  },
  { value: null, expect: { reason: 'invalid_json' } },
  { value: '', expect: { reason: 'invalid_json' } },
  { value: '{"user_id": "u", ', expect: { reason: 'invalid_json' } },
  { value: Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x80]), key: Buffer.from([0x00, 0x01, 0xff]), expect: { reason: 'invalid_json' } },
  { value: '[1, 2, 3]', expect: { reason: 'not_an_object' } },
  { value: '"just a string"', expect: { reason: 'not_an_object' } },
  { value: JSON.stringify({ app_version: '2.3.0', timestamp: NOW_S }), expect: { reason: 'missing_field', field: 'user_id' } },
  { value: JSON.stringify({ user_id: 'x'.repeat(257), app_version: '2.3.0', timestamp: NOW_S }), expect: { reason: 'invalid_field', field: 'user_id' } },
  { value: JSON.stringify({ user_id: 'u', timestamp: NOW_S }), expect: { reason: 'missing_field', field: 'app_version' } },
  { value: JSON.stringify({ user_id: 'u', app_version: 'v2', timestamp: NOW_S }), expect: { reason: 'invalid_field', field: 'app_version' } },
  { value: JSON.stringify({ user_id: 'u', app_version: '2.3.0' }), expect: { reason: 'missing_field', field: 'timestamp' } },
  { value: JSON.stringify({ user_id: 'u', app_version: '2.3.0', timestamp: 946684799 }), expect: { reason: 'invalid_field', field: 'timestamp' } },
  { value: JSON.stringify({ user_id: 'u', app_version: '2.3.0', timestamp: NOW_S + 0.5 }), expect: { reason: 'invalid_field', field: 'timestamp' } },
  { value: JSON.stringify({ user_id: 'u', app_version: '2.3.0', timestamp: NOW_S, ip: '1.2.3' }), expect: { reason: 'invalid_field', field: 'ip' } },
  { value: JSON.stringify({ user_id: 'u', app_version: '2.3.0', timestamp: NOW_S, device_type: 7 }), expect: { reason: 'invalid_field', field: 'device_type' } },
  { value: JSON.stringify({ user_id: 'u', app_version: '2.3.0', timestamp: NOW_S, locale: ['WA'] }), expect: { reason: 'invalid_field', field: 'locale' } },
  { value: JSON.stringify({ user_id: 'u', app_version: '2.3.0', timestamp: NOW_S, device_id: {} }), expect: { reason: 'invalid_field', field: 'device_id' } },
];

describe('pipeline end to end', function () {
  const harness = new PipelineHarness('e2e', { BATCH_MAX_RECORDS: '40' }, 2);
  const generated = 400;

  before(async () => {
    await harness.setup();
    await harness.startAll();
  });
  after(() => harness.close());

  it('accounts for every record exactly once, in the right place, with the right fields and headers', async () => {
    const next = createGenerator({ invalidRatio: 0.05 });
    const bulk: Message[] = Array.from({ length: generated }, () => next());
    // The crafted cases all go to partition 0, so that their offsets are known.
    const crafted: Message[] = CASES.map((c, i) => ({ key: c.key === undefined ? `case-${i}` : c.key, value: c.value, partition: 0 }));
    await harness.produce(crafted);
    await harness.produce(bulk);

    const accounting = await harness.waitForAllAccounted();
    assert.equal(accounting.inputs, generated + CASES.length);
    assert.deepEqual(accounting.lost, []);
    assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
    assert.deepEqual(accounting.conflicting, []);

    const { inputTopic } = harness.config.kafka;
    const loginsBySource = new Map(harness.logins().map((m) => [JSON.parse(m.value!.toString()).source.offset + '@' + m.partition, m]));
    const logins = harness.logins().map((m) => ({ message: m, body: JSON.parse(m.value!.toString()) as Record<string, any> }));
    const deadBySource = new Map(harness.deadLetters().map((m) => [`${m.headers['dlq.source.partition']}:${m.headers['dlq.source.offset']}`, m]));

    CASES.forEach((c, offset) => {
      if ('login' in c.expect) {
        const found = logins.find((l) => l.body.source.partition === 0 && l.body.source.offset === String(offset));
        assert.ok(found, `case ${offset} should be a login`);
        for (const [field, value] of Object.entries(c.expect.login)) assert.deepEqual(found.body[field], value, `case ${offset}: ${field}`);
        assert.equal(found.message.key?.toString(), found.body.user_id, 'the Kafka key is user_id');
        assert.equal(found.message.headers.type, 'login');
        assert.equal(found.body.type, 'login');
        assert.equal(found.body.login_at, new Date(found.body.timestamp * 1000).toISOString());
        assert.deepEqual(found.body.source, { topic: inputTopic, partition: 0, offset: String(offset) });
        assert.match(found.body.batch_id, new RegExp(`^${harness.config.kafka.groupId}/${inputTopic}/[0-9a-f]+\\.\\d+\\.\\d+$`));
        assert.match(found.body.processed_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.equal('extra' in found.body || 'admin' in found.body, false, 'unknown keys are never copied');
        assert.deepEqual(
          Object.keys(found.body).sort(),
          ['app_version', 'batch_id', 'device_id', 'device_type', 'ip', 'locale', 'login_at', 'missing_fields', 'processed_at', 'source', 'timestamp', 'type', 'user_id'],
        );
      } else {
        const dead = deadBySource.get(`0:${offset}`);
        assert.ok(dead, `case ${offset} should be dead-lettered (${c.expect.reason})`);
        assert.equal(dead.headers['dlq.reason'], c.expect.reason, `case ${offset}: ${dead.headers['dlq.error']}`);
        assert.equal(dead.headers['dlq.field'], c.expect.field, `case ${offset}: dlq.field`);
        assert.ok(dead.headers['dlq.error'] && dead.headers['dlq.error'].length < 300, 'a readable sentence');
        assert.equal(dead.headers['dlq.source.topic'], inputTopic);
        assert.equal(dead.headers['dlq.source.partition'], '0');
        assert.match(dead.headers['dlq.batch_id']!, new RegExp(`/${inputTopic}/[0-9a-f]+\\.\\d+\\.\\d+$`));
        assert.ok(!Number.isNaN(Date.parse(dead.headers['dlq.failed_at']!)));
        const original = c.value === null ? null : Buffer.isBuffer(c.value) ? c.value : Buffer.from(c.value);
        if (original === null || original.length === 0) assert.ok(dead.value === null || dead.value.length === 0, 'null/empty value stays so');
        else assert.deepEqual(dead.value, original, 'the original bytes, unchanged');
        const key = c.key === undefined ? Buffer.from(`case-${offset}`) : Buffer.isBuffer(c.key) ? c.key : Buffer.from(String(c.key));
        assert.deepEqual(dead.key, key, 'the original key, unchanged');
      }
    });
    assert.ok(loginsBySource.size > 0);
  });

  it('counts every valid login once in Redis', async () => {
    const accounting = await harness.accounting();
    await waitFor(async () => (await harness.redisLogins()) === accounting.logins, {
      timeoutMs: 20_000,
      message: `Redis to count ${accounting.logins} logins`,
    });
  });

  it('makes each batch readable in Temporal: memo and search attributes', async () => {
    const client = await connectClient(harness.config.temporal);
    try {
      const { inputTopic } = harness.config.kafka;
      const accounting = await harness.accounting();
      const query = `BatchTopic = '${inputTopic}' AND ExecutionStatus = 'Completed'`;
      let listed: { memo?: Record<string, unknown>; searchAttributes: Record<string, unknown[]> }[] = [];
      await waitFor(
        async () => {
          listed = [];
          for await (const wf of client.workflow.list({ query })) listed.push(wf as never);
          const logins = listed.reduce((sum, wf) => sum + Number((wf.searchAttributes.LoginCount as number[] | undefined)?.[0] ?? 0), 0);
          const dead = listed.reduce((sum, wf) => sum + Number((wf.searchAttributes.DeadLetterCount as number[] | undefined)?.[0] ?? 0), 0);
          return logins === accounting.logins && dead === accounting.deadLetters;
        },
        { timeoutMs: 30_000, message: 'the visibility store to list every batch with its counts' },
      );
      const offsets = listed.reduce((sum, wf) => sum + Number(wf.memo?.offsets ?? 0), 0);
      assert.equal(offsets, accounting.inputs, 'the memos cover every input offset');
      const covered = new Set<string>();
      for (const wf of listed) {
        assert.equal(wf.memo?.topic, inputTopic);
        for (const range of parseRanges(wf.memo?.ranges) ?? assert.fail(`ranges in the memo: ${String(wf.memo?.ranges)}`)) {
          for (let o = BigInt(range.from); o < BigInt(range.to); o++) {
            const key = `${range.partition}:${o}`;
            assert.ok(!covered.has(key), `offset ${key} in one batch only`);
            covered.add(key);
          }
        }
      }
      assert.equal(covered.size, accounting.inputs);
    } finally {
      await client.connection.close();
    }
  });
});
