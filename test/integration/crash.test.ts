/**
 * Crashes mid-stream: SIGKILL the worker, SIGKILL the bridge, and a bridge that re-reads batches
 * whose boundaries then fall differently. After each, every input offset is accounted for and
 * Redis counts every valid login exactly once.
 */
import assert from 'node:assert/strict';
import type { Message } from 'kafkajs';
import { handOff, buildBatch } from '../../src/bridge/handoff';
import { connectClient } from '../../src/clients/temporal';
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
      // A re-read batch finds its workflow already there: the bridge's crash never repeats output.
      // A worker's crash may, between a publish and its mark (counted, same source).
      if (component === 'bridge') assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
      await harness.waitForRedisExact();
      console.log(`      ${component} SIGKILL: ${formatAccounting(accounting)}`);
    } finally {
      await harness.close();
    }
  }

  it('loses nothing and counts nothing twice when the worker is SIGKILLed', () => killMidStream('worker'));

  it('loses nothing and duplicates nothing when the bridge is SIGKILLed', () => killMidStream('bridge'));

  it('adopts batches an earlier run started, whatever their boundaries now', async () => {
    const harness = new PipelineHarness('reread', { BATCH_MAX_RECORDS: '25' }, 2);
    try {
      await harness.setup();
      const next = createGenerator();
      const byPartition = [0, 1].map((partition) =>
        Array.from({ length: 120 }, (_, offset) => ({ ...next(), partition, offset: String(offset) })),
      );
      await harness.produce(byPartition.flat().map(({ key, value, partition }): Message => ({ key, value, partition })));
      // An "earlier run" that started batches and crashed before committing: partition 0 got a
      // batch longer than the bridge now cuts (0-69), partition 1 a shorter one (0-9), then 10-59.
      const { groupId, inputTopic } = harness.config.kafka;
      const client = await connectClient(harness.config.temporal);
      const target = { client, groupId, taskQueue: harness.config.temporal.taskQueue };
      const records = (partition: number, from: number, to: number) =>
        byPartition[partition]!.slice(from, to + 1).map((r) => ({ offset: r.offset, key: Buffer.from(r.key), value: Buffer.from(r.value) }));
      try {
        await handOff(target, buildBatch(groupId, inputTopic, 0, records(0, 0, 69)));
        await handOff(target, buildBatch(groupId, inputTopic, 1, records(1, 0, 9)));
        await handOff(target, buildBatch(groupId, inputTopic, 1, records(1, 10, 59)));
      } finally {
        await client.connection.close();
      }
      await harness.startAll();
      const accounting = await harness.waitForAllAccounted();
      assert.equal(accounting.inputs, 240);
      assert.deepEqual(accounting.lost, []);
      assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
      await harness.waitForRedisExact();
      const adoptions = harness.bridge.logText().split('\n').filter((l) => l.includes('Batch already started by an earlier run'));
      assert.equal(adoptions.length, 3, `three adoptions, found:\n${adoptions.join('\n')}`);
      assert.ok(adoptions.some((l) => l.includes('"coveredThrough":"69"')));
      assert.ok(adoptions.some((l) => l.includes('"coveredThrough":"59"')));
    } finally {
      await harness.close();
    }
  });
});
