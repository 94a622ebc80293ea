/**
 * `npm run dlq` on real dead letters: good and bad records go through the real bridge and worker
 * in two waves; the listing groups the DLQ by reason, field and error with the counts, first and
 * last seen (dlq.failed_at) and samples that the topic itself holds; filters and windows narrow
 * it; `show` prints one dead letter's headers and bytes (text or hex). Dead letters written by
 * something else, with missing or broken headers, are listed under "unknown", never dropped.
 */
import assert from 'node:assert/strict';
import type { Message } from 'kafkajs';
import type { DeadLetterGroup } from '../../src/domain/dead-letter-report';
import { lastJson, runCommand } from '../helpers/command';
import { produce, type ReadMessage } from '../helpers/kafka';
import { PipelineHarness } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

interface ListResult {
  topic: string;
  window: { since: string; until: string; on: string };
  total: number;
  records_read: number;
  groups: DeadLetterGroup[];
}

interface ShowResult {
  partition: number;
  offset: string;
  reason: string;
  field: string | null;
  error: string | null;
  failed_at: string | null;
  source: { topic: string; partition: number; offset: string } | null;
  problems: string[];
  headers: Record<string, { encoding: string; data: string }>;
  key: { encoding: string; data: string; bytes: number };
  value: { encoding: string; data: string; bytes: number };
}

const BINARY = Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x80]);

function valid(i: number): Message {
  return { key: `ok-${i}`, value: JSON.stringify({ user_id: `u-${i}`, app_version: '2.3.0', timestamp: Math.floor(Date.now() / 1000), device_type: 'ios' }) };
}

/** One wave: `n` of each kind of bad record, with valid ones between them. */
function wave(tag: string, n: number): Message[] {
  const nowS = Math.floor(Date.now() / 1000);
  const messages: Message[] = [];
  for (let i = 0; i < n; i++) {
    messages.push(
      { key: `${tag}-null-${i}`, value: null },
      { key: Buffer.from([0x00, 0x01, 0xff]), value: BINARY },
      { key: `${tag}-nouser-${i}`, value: JSON.stringify({ app_version: '2.3.0', timestamp: nowS }) },
      { key: `${tag}-v2-${i}`, value: JSON.stringify({ user_id: 'u', app_version: 'v2', timestamp: nowS }) },
      valid(i),
      valid(i + 1000),
    );
  }
  return messages;
}

function groupKey(reason: string, field: string | null, error: string | null): string {
  return JSON.stringify([reason, field, error]);
}

/** A message's group, as the test reader decoded its headers (bytes that are not UTF-8 show as U+FFFD). */
function keyOf(m: ReadMessage): string {
  const reason = m.headers['dlq.reason'];
  return groupKey(reason && !reason.includes('\ufffd') ? reason : 'unknown', m.headers['dlq.field'] ?? null, m.headers['dlq.error'] ?? null);
}

/** The groups as the DLQ topic itself says, from the test's own reader of it. */
function expectedGroups(deadLetters: ReadMessage[], sinceMs = -Infinity, untilMs = Infinity) {
  const groups = new Map<string, { count: number; first: number; last: number; offsets: Set<string>; newest: Set<string> }>();
  for (const m of deadLetters) {
    const failedAt = Date.parse(m.headers['dlq.failed_at'] ?? '');
    const seen = Number.isNaN(failedAt) ? m.timestamp : failedAt;
    if (seen < sinceMs || seen >= untilMs) continue;
    const key = keyOf(m);
    const g = groups.get(key) ?? { count: 0, first: Infinity, last: -Infinity, offsets: new Set(), newest: new Set() };
    g.count++;
    g.first = Math.min(g.first, seen);
    g.last = Math.max(g.last, seen);
    g.offsets.add(`${m.partition}:${m.offset}`);
    groups.set(key, g);
  }
  for (const m of deadLetters) {
    const g = groups.get(keyOf(m));
    const failedAt = Date.parse(m.headers['dlq.failed_at'] ?? '');
    if (g && (Number.isNaN(failedAt) ? m.timestamp : failedAt) === g.last) g.newest.add(`${m.partition}:${m.offset}`);
  }
  return groups;
}

function assertListMatches(listed: ListResult, deadLetters: ReadMessage[], sinceMs?: number, untilMs?: number): void {
  const expected = expectedGroups(deadLetters, sinceMs, untilMs);
  assert.equal(listed.total, [...expected.values()].reduce((n, g) => n + g.count, 0), 'total');
  assert.deepEqual(listed.groups.map((g) => groupKey(g.reason, g.field, g.error)).sort(), [...expected.keys()].sort(), 'the groups');
  for (const g of listed.groups) {
    const want = expected.get(groupKey(g.reason, g.field, g.error))!;
    const name = `${g.reason}/${g.field}`;
    assert.equal(g.count, want.count, `${name}: count`);
    assert.equal(g.first_seen, new Date(want.first).toISOString(), `${name}: first seen`);
    assert.equal(g.last_seen, new Date(want.last).toISOString(), `${name}: last seen`);
    assert.ok(want.newest.has(`${g.sample.partition}:${g.sample.offset}`), `${name}: the sample ${g.sample.partition}:${g.sample.offset} is one of the newest`);
  }
  const counts = listed.groups.map((g) => g.count);
  assert.deepEqual(counts, [...counts].sort((a, b) => b - a), 'largest group first');
}

describe('dead letters: npm run dlq', function () {
  const harness = new PipelineHarness('dlq', { BATCH_MAX_RECORDS: '20' }, 2);
  let env: Record<string, string | undefined>;
  let testStart: number;
  let betweenWaves: number;

  before(async function () {
    testStart = Date.now() - 1_000;
    await harness.setup();
    env = harness.t.env;
    await harness.startAll();
    await harness.produce(wave('a', 3));
    await harness.waitForAllAccounted();
    betweenWaves = Date.now();
    // The next wave's batches must start later than every batch of the first.
    await waitFor(() => Date.now() > betweenWaves + 5, { timeoutMs: 1_000, intervalMs: 5, message: 'the clock to move' });
    await harness.produce(wave('b', 2));
    const accounting = await harness.waitForAllAccounted();
    assert.equal(accounting.deadLetters, 5 * 4);
    // Dead letters from elsewhere: no headers at all, and a reason that is not text, no failed_at.
    await produce(harness.kafka, harness.config.kafka.dlqTopic, [
      { key: 'foreign-1', value: 'written by hand' },
      { key: 'foreign-2', value: 'broken headers', headers: { 'dlq.reason': Buffer.from([0xc3, 0x28]), 'dlq.error': 'by another tool' } },
    ]);
    await waitFor(() => harness.deadLetters().length === 22, { timeoutMs: 30_000, message: 'the test reader to see every dead letter' });
  });
  after(() => harness.close());

  it('groups every dead letter of the window by reason, field and error, with counts, first and last seen and a newest sample', async function () {
    const result = await runCommand('dlq', ['--json', '--since', new Date(testStart).toISOString()], env);
    assert.equal(result.code, 0, result.stderr);
    const listed = lastJson<ListResult>(result);
    assert.equal(listed.topic, harness.config.kafka.dlqTopic);
    assert.equal(listed.window.on, 'dlq.failed_at');
    assertListMatches(listed, harness.deadLetters(), testStart, Date.now());

    const byReason = (reason: string, field: string | null) => listed.groups.filter((g) => g.reason === reason && g.field === field);
    const [noValue] = byReason('invalid_json', null).filter((g) => g.error === 'The record has no value (null or empty).');
    assert.equal(noValue?.count, 5);
    assert.equal(noValue.sample.value.encoding, 'null');
    const [binary] = byReason('invalid_json', null).filter((g) => g.error === 'The value is not valid UTF-8.');
    assert.equal(binary?.count, 5);
    assert.deepEqual(binary.sample.value, { bytes: 5, encoding: 'hex', data: 'fffe007b80', truncated: false });
    assert.deepEqual(binary.sample.key, { bytes: 3, encoding: 'hex', data: '0001ff', truncated: false });
    assert.equal(byReason('missing_field', 'user_id')[0]?.count, 5);
    const [v2] = byReason('invalid_field', 'app_version');
    assert.equal(v2?.count, 5);
    assert.equal(v2.sample.value.encoding, 'text');
    assert.match(v2.sample.value.data, /"app_version":"v2"/);
    assert.equal(v2.sample.source?.topic, harness.config.kafka.inputTopic);
    // Both waves in each pipeline group: first and last seen are apart.
    for (const g of listed.groups.filter((x) => x.reason !== 'unknown')) assert.ok(g.first_seen < g.last_seen, `${g.reason}: ${g.first_seen} < ${g.last_seen}`);

    // Dead letters with missing or broken headers: listed, under "unknown", placed by their Kafka timestamp.
    const unknown = listed.groups.filter((g) => g.reason === 'unknown');
    assert.equal(unknown.reduce((n, g) => n + g.count, 0), 2);
    assert.ok(unknown.every((g) => g.malformed === g.count));
    assert.ok(unknown.some((g) => g.error === 'by another tool'));
    assert.ok(unknown.some((g) => g.error === null && g.sample.value.data === 'written by hand'));
  });

  it('narrows by --reason, --field and the window (--until before the second wave)', async function () {
    const since = new Date(testStart).toISOString();
    const reason = lastJson<ListResult>(await runCommand('dlq', ['list', '--json', '--since', since, '--reason', 'invalid_json'], env));
    assert.deepEqual(reason.groups.map((g) => g.reason), ['invalid_json', 'invalid_json']);
    assert.equal(reason.total, 10);

    const field = lastJson<ListResult>(await runCommand('dlq', ['--json', '--since', since, '--field', 'app_version'], env));
    assert.equal(field.groups.length, 1);
    assert.equal(field.groups[0]!.reason, 'invalid_field');

    const firstWave = lastJson<ListResult>(await runCommand('dlq', ['--json', '--since', since, '--until', new Date(betweenWaves).toISOString()], env));
    assertListMatches(firstWave, harness.deadLetters(), testStart, betweenWaves);
    assert.equal(firstWave.total, 3 * 4);
    assert.ok(firstWave.groups.every((g) => g.reason !== 'unknown'), 'the hand-written ones came later');

    const before = lastJson<ListResult>(await runCommand('dlq', ['--json', '--since', String(Math.floor(testStart / 1000) - 3600), '--until', String(Math.floor(testStart / 1000))], env));
    assert.equal(before.total, 0);
  });

  it('prints a readable table', async function () {
    const result = await runCommand('dlq', ['--since', new Date(testStart).toISOString()], env);
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    assert.match(out, new RegExp(`^Dead letters of ${harness.config.kafka.dlqTopic} that failed from .* \\(dlq\\.failed_at\\):\\n22 in \\d+ groups`));
    assert.match(out, /COUNT\s+REASON\s+FIELD\s+FIRST SEEN\s+LAST SEEN/);
    assert.match(out, /\n\s+5\s+missing_field\s+user_id\s+\S+Z\s+\S+Z\n\s+user_id is missing\.\n/);
    assert.match(out, /value hex ff fe 00 7b 80/);
    assert.match(out, /\n\s+1 with missing or unreadable dlq\.\* headers\n/);
    assert.match(out, /npm run dlq -- show <partition>:<offset>/);
  });

  it('shows one dead letter: headers, and its bytes as hex or text', async function () {
    const binary = harness.deadLetters().find((m) => m.headers['dlq.error'] === 'The value is not valid UTF-8.')!;
    const json = lastJson<ShowResult>(await runCommand('dlq', ['show', `${binary.partition}:${binary.offset}`, '--json'], env));
    assert.equal(json.reason, 'invalid_json');
    assert.equal(json.field, null);
    assert.equal(json.failed_at, binary.headers['dlq.failed_at']);
    assert.deepEqual(json.source, { topic: binary.headers['dlq.source.topic'], partition: Number(binary.headers['dlq.source.partition']), offset: binary.headers['dlq.source.offset'] });
    assert.deepEqual(json.problems, []);
    assert.equal(json.value.encoding, 'hex');
    assert.equal(json.value.data, 'fffe007b80');
    assert.equal(json.key.data, '0001ff');
    assert.deepEqual(Object.keys(json.headers).sort(), Object.keys(binary.headers).sort());
    assert.equal(json.headers['dlq.batch_id']?.data, binary.headers['dlq.batch_id']);

    const text = await runCommand('dlq', ['show', `${binary.partition}:${binary.offset}`], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${harness.config.kafka.dlqTopic} ${binary.partition}:${binary.offset}, written `));
    assert.match(text.stdout, /reason invalid_json: The value is not valid UTF-8\./);
    assert.match(text.stdout, /\n {2}dlq\.source\.offset +\d+\n/);
    assert.match(text.stdout, /Value: hex \(not printable UTF-8\), 5 bytes\n {2}00000000 {2}ff fe 00 7b 80 +\|\.\.\.\{\.\|/);

    const readable = harness.deadLetters().find((m) => m.headers['dlq.field'] === 'app_version')!;
    const shown = await runCommand('dlq', ['show', `${readable.partition}:${readable.offset}`], env);
    assert.match(shown.stdout, /reason invalid_field, field app_version: app_version "v2" is not/);
    assert.match(shown.stdout, new RegExp(`Value: text, ${readable.value!.length} bytes\\n {2}\\{"user_id":"u","app_version":"v2"`));
  });

  it('says so, in one sentence, for an offset that holds no dead letter, or a command it does not know', async function () {
    const missing = await runCommand('dlq', ['show', '0:999999'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr.trim(), new RegExp(`^${harness.config.kafka.dlqTopic} partition 0 holds offsets 0 to \\d+; 999999 is not among them\\.$`));
    const noPartition = await runCommand('dlq', ['show', '7:0'], env);
    assert.equal(noPartition.code, 1);
    assert.match(noPartition.stderr, /has no partition 7/);
    const bad = await runCommand('dlq', ['show', 'zero'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /needs <partition>:<offset>/);
    const unknown = await runCommand('dlq', ['--bogus'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^Unknown option --bogus/);
    const kafkaDown = await runCommand('dlq', [], { ...env, KAFKA_BROKERS: '127.0.0.1:1' });
    assert.equal(kafkaDown.code, 1);
    assert.match(kafkaDown.stderr.trim(), /^Could not connect to Kafka at 127\.0\.0\.1:1: .*ECONNREFUSED.*\.$/);
  });
});
