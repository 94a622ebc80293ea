/**
 * `npm run dlq -- replay` on the real stack. Three waves of records go through the bridge and
 * the worker while a rule rejects app versions like "v2.3": each wave's such records, and some
 * that no rule will accept (no user_id), are dead-lettered, into a DLQ of two partitions. Then
 * the rule is fixed through configuration (APP_VERSION_EXTRA_PATTERN, the worker restarted with
 * small transactions so that a replay takes long enough to be killed) and each wave is replayed
 * by its time window:
 *
 * (a) a dry run says, by reason, what would happen and writes nothing; the replay publishes each
 *     now-valid dead letter once as a login with its original source and replayed_from, counted
 *     once in Redis; the others stay and are reported;
 * (b) a replay whose worker and command are SIGKILLed midway, both started again; replays run
 *     concurrently with themselves and with an overlapping selection (one started under another
 *     workflow id, so that nothing rests on the ids); the same replay run twice: no dead letter
 *     comes out twice, Redis stays exact, and the counts say who replayed what.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Message } from 'kafkajs';
import { connectClient } from '../../src/clients/temporal';
import { DEAD_LETTER_HEADROOM_BYTES, KAFKA_DEFAULT_MAX_MESSAGE_BYTES } from '../../src/clients/topics';
import { REPLAY_WORKFLOW_TYPE, replayLogTopic, type ReplayInput, type ReplayProgress, type ReplayResult } from '../../src/domain/replay';
import { lastJson, runCommand, startCommand } from '../helpers/command';
import { createTopics, type ReadMessage } from '../helpers/kafka';
import { PipelineHarness } from '../helpers/pipeline';
import { ChildService } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

/** The fix: app versions written with a leading "v" are valid too. */
const FIX = { APP_VERSION_EXTRA_PATTERN: 'v\\d+(\\.\\d+){0,3}' };

interface Wave {
  name: string;
  fixable: number;
  unfixable: number;
  sinceMs: number;
  untilMs: number;
}

function records(wave: Wave): Message[] {
  const nowS = Math.floor(Date.now() / 1000);
  const out: Message[] = [];
  for (let i = 0; i < wave.fixable; i++) {
    out.push({ key: `${wave.name}-fix-${i}`, value: JSON.stringify({ user_id: `u-${wave.name}-${i % 97}`, app_version: 'v2.3', timestamp: nowS - (i % 50), device_type: i % 2 ? 'iOS' : 'android', device_id: randomUUID() }) });
    if (i % 10 === 0) out.push({ key: `${wave.name}-ok-${i}`, value: JSON.stringify({ user_id: `ok-${i}`, app_version: '2.3.0', timestamp: nowS }) });
  }
  for (let i = 0; i < wave.unfixable; i++) out.push({ key: `${wave.name}-nouser-${i}`, value: JSON.stringify({ app_version: 'v2.3', timestamp: nowS }) });
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

describe('replay: npm run dlq -- replay', function () {
  this.timeout(300_000);
  const harness = new PipelineHarness('replay', { BATCH_MAX_RECORDS: '100' }, 2);
  const waves: Record<'a' | 'b' | 'c', Wave> = {
    a: { name: 'a', fixable: 200, unfixable: 50, sinceMs: 0, untilMs: 0 },
    b: { name: 'b', fixable: 1200, unfixable: 50, sinceMs: 0, untilMs: 0 },
    c: { name: 'c', fixable: 600, unfixable: 50, sinceMs: 0, untilMs: 0 },
  };
  let env: Record<string, string | undefined>;
  let fixedWorker: ChildService;

  const window = (w: Wave) => ['--since', iso(w.sinceMs), '--until', iso(w.untilMs)];
  const deadLettersOf = (prefix: string) => harness.deadLetters().filter((m) => m.key?.toString().startsWith(prefix));
  const replayedLogins = () => harness.logins().filter((m) => JSON.parse(m.value!.toString()).replayed_from !== undefined);
  const replayedLoginsOf = (prefix: string) => {
    const places = new Set(deadLettersOf(prefix).map((d) => `${d.partition}:${d.offset}`));
    return replayedLogins().filter((m) => {
      const from = JSON.parse(m.value!.toString()).replayed_from as { partition: number; offset: string };
      return places.has(`${from.partition}:${from.offset}`);
    });
  };

  /** Every dead letter of the prefix out exactly once as a login, with its source and its place; none of the others. */
  function assertReplayedOnce(prefix: string, replayId?: string): void {
    const byPlace = new Map<string, ReadMessage[]>();
    for (const m of replayedLogins()) {
      const from = JSON.parse(m.value!.toString()).replayed_from as { topic: string; partition: number; offset: string };
      const key = `${from.partition}:${from.offset}`;
      byPlace.set(key, [...(byPlace.get(key) ?? []), m]);
    }
    for (const dead of deadLettersOf(prefix)) {
      const logins = byPlace.get(`${dead.partition}:${dead.offset}`) ?? [];
      assert.equal(logins.length, 1, `dead letter ${dead.partition}:${dead.offset} (${dead.key}) came out ${logins.length} times`);
      const body = JSON.parse(logins[0]!.value!.toString());
      assert.deepEqual(body.source, {
        topic: dead.headers['dlq.source.topic'],
        partition: Number(dead.headers['dlq.source.partition']),
        offset: dead.headers['dlq.source.offset'],
      });
      assert.deepEqual(body.replayed_from, { topic: harness.config.kafka.dlqTopic, partition: dead.partition, offset: dead.offset });
      assert.equal(body.app_version, 'v2.3');
      assert.equal(logins[0]!.key?.toString(), body.user_id);
      if (replayId) assert.equal(body.batch_id, replayId);
    }
  }

  /** No input record out twice as a login, whatever replayed it; Redis counts each login once. */
  async function assertNoDuplicatesAndRedisExact(): Promise<void> {
    const bySource = new Map<string, number>();
    for (const m of harness.logins()) {
      const { source } = JSON.parse(m.value!.toString()) as { source: { partition: number; offset: string } };
      const key = `${source.partition}:${source.offset}`;
      bySource.set(key, (bySource.get(key) ?? 0) + 1);
    }
    const repeated = [...bySource].filter(([, n]) => n > 1);
    assert.deepEqual(repeated, [], 'input records out as a login more than once');
    await harness.waitForRedisExact(30_000, ' after the replays');
  }

  before(async function () {
    // A DLQ of two partitions (the worker would make one): each has its own replay producer.
    const { dlqTopic } = harness.config.kafka;
    await createTopics(harness.kafka, [dlqTopic], 2, [{ name: 'max.message.bytes', value: String(KAFKA_DEFAULT_MAX_MESSAGE_BYTES + DEAD_LETTER_HEADROOM_BYTES) }]);
    await harness.setup();
    env = harness.t.env;
    await harness.startAll();
    let expectedDeadLetters = 0;
    for (const wave of Object.values(waves)) {
      wave.sinceMs = Date.now();
      await harness.produce(records(wave));
      await harness.waitForAllAccounted();
      expectedDeadLetters += wave.fixable + wave.unfixable;
      await waitFor(() => harness.deadLetters().length === expectedDeadLetters, { timeoutMs: 30_000, message: `the reader to see ${expectedDeadLetters} dead letters` });
      wave.untilMs = Date.now() + 1;
      await waitFor(() => Date.now() > wave.untilMs + 5, { timeoutMs: 1_000, intervalMs: 5, message: 'the clock to move' });
    }
    const accounting = await harness.accounting();
    assert.equal(accounting.duplicates, 0);

    // The fix: the worker restarted with the widened rule, and with small transactions (BATCH_MAX_BYTES)
    // so that a replay takes many of them.
    await harness.worker.stop('SIGTERM');
    fixedWorker = new ChildService('worker', { ...env, ...FIX, BATCH_MAX_BYTES: '2048' }, `${harness.t.id}-worker-fixed`);
    harness.extra.push(fixedWorker);
    await fixedWorker.start();
  });
  after(() => harness.close());

  it('(a) says by reason what a dry run would do, then replays each now-valid dead letter once, with its source and replayed_from; the rest stay, reported', async function () {
    const dryRun = await runCommand('dlq', ['replay', ...window(waves.a), '--dry-run', '--json'], env);
    assert.equal(dryRun.code, 0, dryRun.stderr);
    const dry = lastJson<ReplayResult>(dryRun);
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.totals, { selected: 250, replayed: 200, alreadyReplayed: 0, stillInvalid: 50, notReplayable: 0 });
    const fixable = dry.counts.groups.find((g) => g.reason === 'invalid_field' && g.field === 'app_version');
    assert.equal(fixable?.replayed, 200);
    const noUser = dry.counts.groups.find((g) => g.reason === 'missing_field' && g.field === 'user_id');
    assert.equal(noUser?.stillInvalid, 50);
    assert.equal(noUser?.stillInvalidSample?.error, 'user_id is missing.');
    const text = await runCommand('dlq', ['replay', ...window(waves.a), '--dry-run'], env);
    assert.match(text.stdout, /^Dry run, nothing written\. Replay of t-replay-\w+-dlq, failed from \S+ to \S+: workflow replay\/.*\/dry-run\.\nRead [\d,]+ dead letters; 250 selected\./);
    assert.match(text.stdout, /REASON\s+FIELD\s+SELECTED\s+WOULD REPLAY\s+ALREADY REPLAYED\s+STILL INVALID\s+NOT REPLAYABLE/);
    assert.match(text.stdout, /\ninvalid_field\s+app_version\s+200\s+200\s+0\s+0\s+0\n/);
    assert.match(text.stdout, /\nmissing_field\s+user_id\s+50\s+0\s+0\s+50\s+0\n {2}still invalid today: missing_field \(user_id\): user_id is missing\. e\.g\. \d:\d+\n/);
    assert.match(text.stdout, /Would publish 200 as logins/);
    // A dry run writes nothing: no login, nothing in the replay log.
    assert.equal(replayedLogins().length, 0);
    const admin = harness.kafka.admin();
    await admin.connect();
    try {
      const log = await admin.fetchTopicOffsets(replayLogTopic(harness.config.kafka.dlqTopic));
      assert.equal(log.length, 2, 'the worker made the replay log with as many partitions as the DLQ');
      assert.deepEqual(log.map((p) => p.high), ['0', '0']);
    } finally {
      await admin.disconnect();
    }

    const run = await runCommand('dlq', ['replay', ...window(waves.a), '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = lastJson<ReplayResult>(run);
    assert.equal(result.dryRun, false);
    assert.equal(result.phase, 'done');
    assert.deepEqual(result.totals, { selected: 250, replayed: 200, alreadyReplayed: 0, stillInvalid: 50, notReplayable: 0 });
    assert.match(run.stderr, new RegExp(`workflow ${result.replayId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\nhttp://127\\.0\\.0\\.1:8233/namespaces/default/workflows/replay%2F`));
    await waitFor(() => replayedLogins().length === 200, { timeoutMs: 30_000, message: () => `200 replayed logins (${replayedLogins().length})` });
    assertReplayedOnce('a-fix-', result.replayId);
    assert.equal(replayedLoginsOf('a-nouser-').length, 0, 'a dead letter still invalid stays where it is');
    assert.equal(deadLettersOf('a-').length, 250, 'the dead letters stay in the DLQ');
    await assertNoDuplicatesAndRedisExact();
  });

  it('(b) killed midway (worker and command SIGKILLed) and started again: each dead letter out once, the replay counts all it did', async function () {
    const command = ['replay', ...window(waves.b), '--json'];
    const first = startCommand('dlq', command, env);
    let seen = 0;
    await waitFor(() => (seen = replayedLoginsOf('b-fix-').length) > 0, { timeoutMs: 60_000, intervalMs: 50, message: () => `the replay to publish (${first.child.exitCode})` });
    await fixedWorker.stop('SIGKILL');
    first.child.kill('SIGKILL');
    assert.equal((await first.done).signal, 'SIGKILL');
    assert.ok(seen < waves.b.fixable, `the replay was killed midway (${seen} of ${waves.b.fixable} out when the worker was killed): make it slower`);

    // While no worker runs, the workflow waits in Temporal, visible and queryable once a worker is back.
    const client = await connectClient(harness.config.temporal);
    try {
      const listed: string[] = [];
      for await (const wf of client.workflow.list({ query: `WorkflowType = '${REPLAY_WORKFLOW_TYPE}' AND BatchTopic = "${harness.config.kafka.dlqTopic}" AND ExecutionStatus = 'Running'` })) listed.push(wf.workflowId);
      assert.equal(listed.length, 1, `one replay running: ${listed.join(', ')}`);
      await fixedWorker.start();
      const progress = await client.workflow.getHandle(listed[0]!).query<ReplayProgress>('progress');
      assert.equal(progress.phase, 'replaying');
      assert.ok(progress.offsets.total > 0 && progress.offsets.done <= progress.offsets.total);
    } finally {
      await client.connection.close();
    }

    // The same command again follows the same replay to its end.
    const again = await runCommand('dlq', command, env, 240_000);
    assert.equal(again.code, 0, again.stderr);
    const result = lastJson<ReplayResult>(again);
    assert.deepEqual(result.totals, { selected: 1250, replayed: 1200, alreadyReplayed: 0, stillInvalid: 50, notReplayable: 0 });
    await waitFor(() => replayedLoginsOf('b-fix-').length >= waves.b.fixable, { timeoutMs: 30_000, message: 'every replayed login of wave b' });
    assertReplayedOnce('b-fix-', result.replayId);
    await assertNoDuplicatesAndRedisExact();
  });

  it('(b) run concurrently with itself, with an overlapping selection and under another workflow id: each dead letter out once, replayed by exactly one', async function () {
    const command = ['replay', ...window(waves.c), '--json'];
    const client = await connectClient(harness.config.temporal);
    try {
      const input: ReplayInput = { dlqTopic: harness.config.kafka.dlqTopic, selection: { sinceMs: waves.c.sinceMs, untilMs: waves.c.untilMs }, dryRun: false };
      const [same1, same2, overlapping, other] = await Promise.all([
        runCommand('dlq', command, env, 240_000),
        runCommand('dlq', command, env, 240_000),
        runCommand('dlq', [...command, '--field', 'app_version'], env, 240_000),
        client.workflow
          .start(REPLAY_WORKFLOW_TYPE, { workflowId: `${harness.t.id}-another-replay`, taskQueue: harness.config.temporal.taskQueue, args: [input] })
          .then((handle) => handle.result() as Promise<ReplayResult>),
      ]);
      for (const r of [same1, same2, overlapping]) assert.equal(r.code, 0, r.stderr);
      const [a, b, c] = [same1, same2, overlapping].map((r) => lastJson<ReplayResult>(r));
      assert.equal(a!.replayId, b!.replayId, 'the same command follows the same replay');
      assert.deepEqual(a!.totals, b!.totals);
      assert.notEqual(c!.replayId, a!.replayId);
      const distinct = [a!, c!, other];
      assert.equal(distinct.reduce((n, r) => n + r.totals.replayed, 0), waves.c.fixable, `replayed: ${distinct.map((r) => `${r.replayId} ${r.totals.replayed}`).join(', ')}`);
      for (const r of distinct) assert.equal(r.totals.replayed + r.totals.alreadyReplayed, waves.c.fixable, r.replayId);
      assert.equal(c!.totals.selected, waves.c.fixable, 'the overlapping selection took the app_version ones only');
    } finally {
      await client.connection.close();
    }
    await waitFor(() => replayedLoginsOf('c-fix-').length >= waves.c.fixable, { timeoutMs: 30_000, message: 'every replayed login of wave c' });
    assertReplayedOnce('c-fix-');
    await assertNoDuplicatesAndRedisExact();
  });

  it('(b) run twice: the second run replays nothing, and says it was replayed already', async function () {
    const replayedBefore = replayedLogins().length;
    const twice = await runCommand('dlq', ['replay', ...window(waves.b), '--json'], env);
    assert.equal(twice.code, 0, twice.stderr);
    assert.deepEqual(lastJson<ReplayResult>(twice).totals, { selected: 1250, replayed: 0, alreadyReplayed: 1200, stillInvalid: 50, notReplayable: 0 });
    // Every wave at once, by another selection: nothing new either.
    const all = await runCommand('dlq', ['replay', '--reason', 'invalid_field', '--json'], env);
    assert.equal(all.code, 0, all.stderr);
    const result = lastJson<ReplayResult>(all);
    assert.equal(result.totals.replayed, 0);
    assert.equal(result.totals.alreadyReplayed, waves.a.fixable + waves.b.fixable + waves.c.fixable);
    assert.equal(replayedLogins().length, replayedBefore);
    for (const wave of ['a', 'b', 'c']) assertReplayedOnce(`${wave}-fix-`);
    await assertNoDuplicatesAndRedisExact();
  });

  it('continues as new on a long replay and keeps what it counted', async function () {
    const client = await connectClient(harness.config.temporal);
    try {
      const selection = { sinceMs: waves.a.sinceMs, untilMs: waves.a.untilMs };
      const input: ReplayInput = { dlqTopic: harness.config.kafka.dlqTopic, selection, dryRun: true, segmentOffsets: 5 };
      const handle = await client.workflow.start(REPLAY_WORKFLOW_TYPE, { workflowId: `${harness.t.id}-long-replay`, taskQueue: harness.config.temporal.taskQueue, args: [input] });
      const result = (await handle.result()) as ReplayResult;
      const { runId } = await client.workflow.getHandle(handle.workflowId).describe();
      assert.notEqual(runId, handle.firstExecutionRunId, 'it continued as new');
      const normal = lastJson<ReplayResult>(await runCommand('dlq', ['replay', ...window(waves.a), '--dry-run', '--json'], env));
      assert.deepEqual(result.totals, normal.totals);
      assert.deepEqual(result.counts, normal.counts);
      assert.equal(result.offsets.done, result.offsets.total);
    } finally {
      await client.connection.close();
    }
  });

  it('fails, with one sentence, a replay it cannot do: another DLQ, or a crafted input', async function () {
    const client = await connectClient(harness.config.temporal);
    try {
      const run = async (input: unknown, id: string) => {
        const handle = await client.workflow.start(REPLAY_WORKFLOW_TYPE, { workflowId: `${harness.t.id}-${id}`, taskQueue: harness.config.temporal.taskQueue, args: [input] });
        let failure = await handle.result().then(() => assert.fail('it should fail'), (err: unknown) => err);
        // The workflow's failure, or the failed activity's, whose cause says why.
        while (failure instanceof Error && failure.cause instanceof Error) failure = failure.cause;
        return failure instanceof Error ? failure.message : String(failure);
      };
      const base: ReplayInput = { dlqTopic: harness.config.kafka.dlqTopic, selection: {}, dryRun: true };
      assert.equal(await run({ ...base, segmentOffsets: 0 }, 'crafted'), 'The replay input is malformed: segmentOffsets is not a whole number from 1 to 1000000.');
      assert.equal(
        await run({ ...base, dlqTopic: 'someone-elses-dlq' }, 'other-dlq'),
        `This replay is of someone-elses-dlq, but the workers on this task queue serve ${harness.config.kafka.dlqTopic} (DLQ_TOPIC).`,
      );
    } finally {
      await client.connection.close();
    }
  });
});
