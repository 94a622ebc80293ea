/**
 * Crashes mid-stream: SIGKILL the worker, SIGKILL the bridge, and the intents a bridge that died
 * in the middle of hand-offs leaves behind. After each, every input offset is accounted for and
 * Redis counts every valid login exactly once.
 */
import assert from 'node:assert/strict';
import type { Message } from 'kafkajs';
import { startBatch, startOrFind } from '../../src/bridge/handoff';
import { connectClient } from '../../src/clients/temporal';
import { formatCommitMetadata } from '../../src/domain/commit-metadata';
import { createGenerator } from '../../src/generator/records';
import { formatAccounting } from '../helpers/accounting';
import { PipelineHarness } from '../helpers/pipeline';
import { ChildService } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

function generatorFor(harness: PipelineHarness, count: number, rate: number): ChildService {
  const generator = new ChildService('generator', harness.t.env, `${harness.t.id}-generator`, [
    '--count',
    String(count),
    '--rate',
    String(rate),
    '--invalid-ratio',
    '0.02',
  ]);
  harness.extra.push(generator);
  return generator;
}

describe('crashes mid-stream', function () {
  /** Kills `component` after 1,000 logins of a 6,000-record stream, restarts it, and checks the guarantee. */
  async function killMidStream(component: 'worker' | 'bridge'): Promise<void> {
    const harness = new PipelineHarness(`kill-${component}`, { BATCH_MAX_RECORDS: '100' }, 2);
    try {
      await harness.setup();
      await harness.startAll();
      const generator = generatorFor(harness, 6000, 1500);
      await generator.start();
      await waitFor(() => harness.logins().length >= 1000, { timeoutMs: 60_000, message: '1000 logins before the kill' });
      await harness[component].stop('SIGKILL');
      await harness[component].start();
      assert.equal(await generator.waitForExit(), 0);
      const accounting = await harness.waitForAllAccounted(180_000);
      assert.equal(accounting.inputs, 6000);
      assert.deepEqual(accounting.lost, [], formatAccounting(accounting));
      assert.deepEqual(accounting.conflicting, []);
      // The bridge's crash: intents resolved by its next run. The worker's: its open transactions
      // aborted by the next attempt's producer, its committed ones found by their lane's mark.
      assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
      await harness.waitForRedisExact();
      console.log(`      ${component} SIGKILL: ${formatAccounting(accounting)}`);
    } finally {
      await harness.close();
    }
  }

  it('loses nothing and duplicates nothing when the worker is SIGKILLed', () => killMidStream('worker'));

  it('loses nothing and duplicates nothing when the bridge is SIGKILLed', () => killMidStream('bridge'));

  it('resolves the intents an earlier bridge left: adopts the batch it started, voids the one it did not, and hands nothing off twice', async () => {
    const harness = new PipelineHarness('intents', { BATCH_MAX_RECORDS: '25' }, 2);
    try {
      await harness.setup();
      const next = createGenerator();
      await harness.produce([0, 1].flatMap((partition) => Array.from({ length: 120 }, (): Message => ({ ...next(), partition }))));
      // An earlier bridge that crashed in the middle of two hand-offs: on partition 0 after it
      // started its batch (offsets 0-69) and before it committed the end; on partition 1 after it
      // committed the intent and before it started the batch.
      const { groupId, inputTopic: topic } = harness.config.kafka;
      const earlier = (partition: number) => ({ id: `batch/${groupId}/${topic}/earlier.${partition}.1`, token: `token-${partition}` });
      const client = await connectClient(harness.config.temporal);
      try {
        await commitWithMetadata(harness, [0, 1].map((partition) => ({ partition, metadata: formatCommitMetadata({ token: earlier(partition).token, intent: earlier(partition).id }) })));
        await startBatch(
          { client, taskQueue: harness.config.temporal.taskQueue },
          {
            batchId: earlier(0).id.replace(/^batch\//, ''),
            groupId,
            topic,
            ranges: [{ partition: 0, from: '0', to: '70', incarnation: earlier(0).token }],
            lane: { id: `${groupId}/${topic}/earlier/lane-0`, seq: 1 },
            cutAtMs: Date.now(),
          },
        );
        await harness.startAll();
        const accounting = await harness.waitForAllAccounted();
        assert.equal(accounting.inputs, 240);
        assert.deepEqual(accounting.lost, []);
        assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
        await harness.waitForRedisExact();
        const log = harness.bridge.logText();
        assert.match(log, new RegExp(`"workflowId":"${earlier(0).id}","adopted":true`), 'the started batch is adopted');
        assert.match(log, new RegExp(`"workflowId":"${earlier(1).id}","adopted":false`), 'the batch never started is voided');
        const voided = await client.workflow.getHandle(earlier(1).id).describe();
        assert.equal(voided.memo?.void, true, 'its id now holds a void batch, so the earlier bridge can never start it');
        // That earlier bridge coming back to start it finds the void batch, and starts nothing.
        const late = await startOrFind(
          { client, taskQueue: harness.config.temporal.taskQueue },
          { batchId: earlier(1).id.replace(/^batch\//, ''), groupId, topic, ranges: [{ partition: 1, from: '0', to: '50', incarnation: earlier(1).token }], lane: { id: 'l', seq: 1 }, cutAtMs: Date.now() },
        );
        assert.equal(late.outcome, 'voided');
      } finally {
        await client.connection.close();
      }
    } finally {
      await harness.close();
    }
  });
});

/** Commits offset 0 with the given metadata, as the group's member would (the group must be empty). */
async function commitWithMetadata(harness: PipelineHarness, entries: { partition: number; metadata: string }[]): Promise<void> {
  const consumer = harness.kafka.consumer({ groupId: harness.config.kafka.groupId });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: harness.config.kafka.inputTopic, fromBeginning: true });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      consumer.pause([{ topic: harness.config.kafka.inputTopic }]);
      joined = true;
    });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
    await waitFor(() => joined, { timeoutMs: 30_000, message: 'the committing consumer to join' });
    await consumer.commitOffsets(entries.map((e) => ({ topic: harness.config.kafka.inputTopic, partition: e.partition, offset: '0', metadata: e.metadata })));
  } finally {
    await consumer.disconnect();
  }
}
