/**
 * What the processes check at start (horizons, Redis's eviction policy), summaries once per tick
 * with missed ticks published in order after the worker was down, and a crafted input on the task
 * queue (a decompression bomb) failing its workflow with bounded memory.
 */
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { peakRssMb } from '../../src/bench/measure';
import { horizonWarnings } from '../../src/clients/horizons';
import { createRedis } from '../../src/clients/redis';
import { connectClient } from '../../src/clients/temporal';
import { MAX_INFLATED_BYTES, RECORDS_ENCODING, type LegacyBatchMeta } from '../../src/domain/blob';
import { DedicatedService } from '../helpers/dedicated';
import { createTopics } from '../helpers/kafka';
import { PipelineHarness } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

const DAY_MS = 86_400_000;

describe('checks at start', function () {
  it('says when Kafka keeps records longer than Temporal keeps batches, or than Kafka keeps offsets', () => {
    const names = { topic: 'in', groupId: 'g', namespace: 'default' };
    assert.deepEqual(horizonWarnings({ recordsMs: 7 * DAY_MS, offsetsMs: 7 * DAY_MS, batchesMs: 7 * DAY_MS }, names), []);
    assert.deepEqual(horizonWarnings({ recordsMs: undefined, offsetsMs: DAY_MS, batchesMs: DAY_MS }, names), [], 'records kept for ever: nothing to compare');
    const [temporal, offsets] = horizonWarnings({ recordsMs: 30 * DAY_MS, offsetsMs: 7 * DAY_MS, batchesMs: 7 * DAY_MS }, names);
    assert.match(temporal!, /Temporal keeps finished batches for 7 days but Kafka keeps the records of in for 30 days: .*--retention 720h default/);
    assert.match(offsets!, /Kafka forgets the committed offsets of group g 7 days after it is left empty but keeps the records of in for 30 days/);
  });

  it('warns, in the bridge and the worker, when the input topic keeps records longer than Temporal keeps batches', async () => {
    const harness = new PipelineHarness('horizon');
    try {
      await createTopics(harness.kafka, [harness.config.kafka.inputTopic], 1, [{ name: 'retention.ms', value: String(30 * DAY_MS) }]);
      await harness.setup();
      await harness.startAll();
      for (const service of [harness.bridge, harness.worker]) {
        assert.match(service.logText(), /"level":40[^\n]*but Kafka keeps the records of \S+ for 30 days: a bridge stopped for longer than/, service.name);
      }
    } finally {
      await harness.close();
    }
  });

  it('refuses a Redis that evicts keys when full, in one sentence', async () => {
    const redis = new DedicatedService('redis', 'evicting-redis', 17479);
    await redis.start();
    const client = createRedis(redis.config.redis);
    const harness = new PipelineHarness('evicting', redis.env);
    try {
      await client.config('SET', 'maxmemory', '100mb');
      await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
      await harness.setup();
      await harness.worker.start().catch(() => undefined);
      assert.notEqual(await harness.worker.waitForExit(), 0);
      assert.match(harness.worker.logText(), /Redis at 127\.0\.0\.1:17479 evicts keys when it is full \(maxmemory-policy allkeys-lru\): it could drop a batch's exactly-once marker/);
    } finally {
      client.disconnect();
      await harness.close();
      await redis.stop();
    }
  });
});

describe('summaries', function () {
  it('publishes one summary per tick, and the ticks missed while no worker ran, in order', async () => {
    const interval = 3;
    const harness = new PipelineHarness('ticks', { SUMMARY_INTERVAL_SECONDS: String(interval) });
    try {
      await harness.setup();
      await harness.worker.start();
      const ticks = () =>
        harness.reader
          .of(harness.config.kafka.outputTopic)
          .filter((m) => m.headers.type === 'summary')
          .map((m) => Date.parse(m.headers['summary.tick']!));
      await waitFor(() => ticks().length >= 1, { timeoutMs: 4 * interval * 1000, message: 'a first summary' });
      await harness.worker.stop('SIGKILL');
      const downAt = Date.now();
      // Down across at least two ticks.
      await waitFor(() => Date.now() - downAt > 2.5 * interval * 1000, { timeoutMs: 10 * interval * 1000, message: 'two intervals to pass' });
      await harness.worker.start();
      const upAt = Date.now();
      await waitFor(() => ticks().some((t) => t > upAt), { timeoutMs: 60_000, message: 'a summary after the worker came back' });
      const published = ticks();
      assert.deepEqual(published, [...new Set(published)], 'each tick once');
      for (let i = 1; i < published.length; i++) assert.equal(published[i]! - published[i - 1]!, interval * 1000, `ticks in order, none missing: ${published.map((t) => new Date(t).toISOString()).join(', ')}`);
      assert.ok(published.filter((t) => t > downAt && t <= upAt).length >= 2, 'the ticks missed while down were published');
      for (const t of published) assert.equal(t % (interval * 1000), 0, 'ticks fall on multiples of the interval: no drift');
    } finally {
      await harness.close();
    }
  });
});

describe('crafted input on the task queue', function () {
  it('fails a workflow whose records blob is a decompression bomb, with bounded memory', async () => {
    const harness = new PipelineHarness('bomb');
    const client = await connectClient(harness.config.temporal);
    try {
      await harness.setup();
      await harness.worker.start();
      const before = peakRssMb(harness.worker.pid!);
      const bomb = deflateRawSync(Buffer.alloc(MAX_INFLATED_BYTES * 16), { level: 9 });
      const meta: LegacyBatchMeta = { batchId: 'bomb', topic: harness.config.kafka.inputTopic, partition: 0, firstOffset: '0', lastOffset: '0', count: 1, encoding: RECORDS_ENCODING };
      const handle = await client.workflow.start('processBatch', { workflowId: `bomb-${harness.t.id}`, taskQueue: harness.config.temporal.taskQueue, args: [meta, new Uint8Array(bomb)] });
      const failure = await handle.result().then(
        () => undefined,
        (err: { cause?: { type?: string; message?: string } }) => err.cause,
      );
      assert.equal(failure?.type, 'InvalidBatchInput');
      assert.match(failure?.message ?? '', /does not inflate to at most/);
      const grew = peakRssMb(harness.worker.pid!) - before;
      assert.ok(grew < (MAX_INFLATED_BYTES * 4) / 2 ** 20, `the worker's peak memory grew by ${grew.toFixed(0)} MB for a ${(MAX_INFLATED_BYTES * 16) / 2 ** 20} MB bomb`);
      assert.ok(harness.worker.running, 'the worker goes on');
    } finally {
      await client.connection.close();
      await harness.close();
    }
  });
});

