/**
 * The guarantee where it used to break without a crash: a topic recreated under the same name, a
 * Kafka wiped under a surviving Temporal, a group whose offsets are gone while its records are
 * not, a batch of the old topic still running, batch runs terminated by hand; and the horizons
 * and settings checked at start.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Kafka, Message } from 'kafkajs';
import { startBatch } from '../../src/bridge/handoff';
import { connectClient } from '../../src/clients/temporal';
import { SUPERSEDED_BATCH, type BatchSpec } from '../../src/domain/batch';
import { formatAccounting } from '../helpers/accounting';
import { DedicatedService } from '../helpers/dedicated';
import { createTopics } from '../helpers/kafka';
import { PipelineHarness } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

const login = (user: string): Message => ({ key: user, value: JSON.stringify({ user_id: user, app_version: '2.3.0', timestamp: Math.floor(Date.now() / 1000) }) });
const users = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}-${randomUUID().slice(0, 8)}`);

/** Each of `expected` came out as exactly one login. */
function assertOnceEach(harness: PipelineHarness, expected: string[]): void {
  const seen = new Map<string, number>();
  for (const m of harness.logins()) {
    const user = JSON.parse(m.value!.toString()).user_id as string;
    seen.set(user, (seen.get(user) ?? 0) + 1);
  }
  const missing = expected.filter((u) => !seen.has(u));
  const twice = expected.filter((u) => (seen.get(u) ?? 0) > 1);
  assert.deepEqual({ missing, twice }, { missing: [], twice: [] });
}

async function loginsOf(harness: PipelineHarness, expected: string[], timeoutMs = 90_000): Promise<void> {
  const wanted = new Set(expected);
  await waitFor(() => harness.logins().filter((m) => wanted.has(JSON.parse(m.value!.toString()).user_id)).length >= expected.length, {
    timeoutMs,
    message: () => `${expected.length} logins of ${expected[0]}…\nbridge: ${harness.bridge.tail(5)}`,
  });
}

async function recreate(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
    await waitFor(async () => !(await admin.listTopics()).includes(topic), { timeoutMs: 30_000, message: `${topic} to be deleted` });
  } finally {
    await admin.disconnect();
  }
  await waitFor(() => createTopics(kafka, [topic]).then(() => true), { timeoutMs: 30_000, message: `${topic} to be made again` });
}

describe('the guarantee without a crash', function () {
  it('hands off the records of a topic recreated under the same name, and says what it found', async () => {
    const harness = new PipelineHarness('recreated');
    try {
      await harness.setup();
      await harness.startAll();
      const before = users('before', 40);
      await harness.produce(before.map(login));
      await loginsOf(harness, before);
      await harness.bridge.stop();
      // Records written within a second of a cut could be either (producers' clocks drift): the
      // new topic's come later here, as they would in practice.
      const stoppedAt = Date.now();
      await waitFor(() => Date.now() - stoppedAt > 1_500, { timeoutMs: 5_000, message: 'a moment to pass' });
      await recreate(harness.kafka, harness.config.kafka.inputTopic);
      const after = users('after', 60);
      await harness.produce(after.map(login));
      await harness.bridge.start();
      await loginsOf(harness, after);
      assertOnceEach(harness, [...before, ...after]);
      assert.match(harness.bridge.logText(), /the topic was recreated or Kafka's data was wiped, so its records are handed off from its start/);
    } finally {
      await harness.close();
    }
  });

  it('stops when its offsets are gone but the records are not, says how to go on, and goes on that way with no duplicate', async () => {
    const harness = new PipelineHarness('offsets-gone');
    try {
      await harness.setup();
      await harness.startAll();
      const before = users('before', 30);
      await harness.produce(before.map(login));
      await loginsOf(harness, before);
      await harness.bridge.stop();
      const admin = harness.kafka.admin();
      await admin.connect();
      try {
        await admin.deleteGroups([harness.config.kafka.groupId]);
        await harness.bridge.start().catch(() => undefined);
        const code = await harness.bridge.waitForExit();
        assert.notEqual(code, 0, 'it refuses to start');
        const sentence = /has no committed offset in group \S+, but Temporal holds batches of it up to offset (\d+)[^"]*--reset-offsets --to-offset (\d+)[^"]*BRIDGE_ON_MISSING_OFFSETS=earliest/.exec(harness.bridge.logText());
        assert.ok(sentence, `one sentence saying what it found and how to proceed:\n${harness.bridge.tail(3)}`);
        assert.equal(sentence[1], '30');
        // As the sentence says: set the offsets, and start again.
        await admin.setOffsets({ groupId: harness.config.kafka.groupId, topic: harness.config.kafka.inputTopic, partitions: [{ partition: 0, offset: sentence[2]! }] });
      } finally {
        await admin.disconnect();
      }
      await harness.bridge.start();
      const after = users('after', 20);
      await harness.produce(after.map(login));
      await loginsOf(harness, after);
      assertOnceEach(harness, [...before, ...after]);
      const accounting = await harness.waitForAllAccounted();
      assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
    } finally {
      await harness.close();
    }
  });

  it('hands off the new records of a Kafka wiped under a surviving Temporal', async () => {
    const kafka = new DedicatedService('kafka', 'wiped-kafka', 20092);
    kafka.wipe();
    await kafka.start();
    const harness = new PipelineHarness('wiped', kafka.env);
    try {
      await harness.setup();
      await harness.startAll();
      const before = users('before', 50);
      await harness.produce(before.map(login));
      await loginsOf(harness, before);
      await Promise.all([harness.bridge.stop(), harness.worker.stop()]);
      await harness.reader.close();
      await kafka.stop();
      kafka.wipe();
      await kafka.start();
      await harness.setup();
      const after = users('after', 20);
      await harness.produce(after.map(login));
      await harness.startAll();
      await loginsOf(harness, after);
      assertOnceEach(harness, after);
      assert.match(harness.bridge.logText(), /the topic was recreated or Kafka's data was wiped/);
    } finally {
      await harness.close();
      await kafka.stop();
    }
  });

  it('fails, without publishing, a batch cut from a partition that has since been recreated', async () => {
    const harness = new PipelineHarness('superseded');
    const client = await connectClient(harness.config.temporal);
    try {
      await harness.setup();
      await harness.startAll();
      const before = users('before', 10);
      await harness.produce(before.map(login));
      await loginsOf(harness, before);
      await harness.worker.stop();
      await harness.bridge.stop();
      await recreate(harness.kafka, harness.config.kafka.inputTopic);
      const after = users('after', 10);
      await harness.produce(after.map(login));
      // A batch of the old topic that was still to run: its offsets now hold the new records.
      const { groupId, inputTopic } = harness.config.kafka;
      const old: BatchSpec = {
        batchId: `${groupId}/${inputTopic}/old.0.1`,
        groupId,
        topic: inputTopic,
        ranges: [{ partition: 0, from: '0', to: '10', incarnation: 'the-old-topic' }],
        lane: { id: `${groupId}/${inputTopic}/old/lane-0`, seq: 1 },
        cutAtMs: Date.now() - 60_000,
      };
      const handle = await startBatch({ client, taskQueue: harness.config.temporal.taskQueue }, old);
      await harness.startAll();
      const failure = await handle.result().then(
        () => undefined,
        (err: { cause?: { type?: string; message?: string } }) => err.cause,
      );
      assert.equal(failure?.type, SUPERSEDED_BATCH, 'the old batch fails as superseded');
      assert.match(failure?.message ?? '', /is not the one this batch was cut from/);
      await loginsOf(harness, after);
      assertOnceEach(harness, [...before, ...after]);
    } finally {
      await client.connection.close();
      await harness.close();
    }
  });

  it('re-drives a batch run terminated by hand, and dead-letters what is left after the fourth', async () => {
    const harness = new PipelineHarness('redrive');
    const client = await connectClient(harness.config.temporal);
    try {
      await harness.setup();
      await harness.bridge.start();
      const once = users('once', 5);
      await harness.produce(once.map(login));
      // No worker yet: the batch waits in Temporal, and is terminated by hand.
      const first = await waitFor(async () => (await runningBatches(client, harness))[0], { timeoutMs: 30_000, message: 'a batch to start' });
      await client.workflow.getHandle(first).terminate('an operator');
      const redrive = await waitFor(async () => (await runningBatches(client, harness)).find((id) => id === `${first}#redrive-1`), {
        timeoutMs: 30_000,
        message: 'the bridge to re-drive it',
      });
      await harness.worker.start();
      await loginsOf(harness, once);
      assertOnceEach(harness, once);
      assert.equal((await client.workflow.getHandle(redrive).describe()).status.name, 'COMPLETED');

      await harness.worker.stop();
      const many = users('many', 5);
      await harness.produce(many.map(login));
      const second = await waitFor(async () => (await runningBatches(client, harness)).find((id) => !id.includes('#')), { timeoutMs: 30_000, message: 'another batch' });
      for (const id of [second, `${second}#redrive-1`, `${second}#redrive-2`, `${second}#redrive-3`]) {
        await waitFor(async () => (await runningBatches(client, harness)).includes(id), { timeoutMs: 30_000, message: `${id} to run` });
        await client.workflow.getHandle(id).terminate('an operator, again');
      }
      await waitFor(async () => (await runningBatches(client, harness)).includes(`${second}#dead-letter`), { timeoutMs: 30_000, message: 'the dead-letter run' });
      await harness.worker.start();
      const accounting = await harness.waitForAllAccounted();
      assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
      const dead = harness.deadLetters().filter((m) => many.includes(m.key!.toString()));
      assert.equal(dead.length, many.length, 'each record of the batch ended as a dead letter');
      for (const m of dead) {
        assert.equal(m.headers['dlq.reason'], 'processing_error');
        assert.match(m.headers['dlq.error']!, /did not complete after 4 runs/);
      }
    } finally {
      await client.connection.close();
      await harness.close();
    }
  });
});

async function runningBatches(client: Awaited<ReturnType<typeof connectClient>>, harness: PipelineHarness): Promise<string[]> {
  const ids: string[] = [];
  const query = `BatchGroup = "${harness.config.kafka.groupId}" AND ExecutionStatus = 'Running'`;
  for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
}
