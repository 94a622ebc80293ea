/**
 * The worker's reading of Kafka below kafkajs's public API, against the real broker: offset
 * ranges as a read_committed reader sees them (src/clients/range-reader.ts), and a group's
 * committed offsets read stably, after the transactions that commit them, with their metadata and
 * through a coordinator looked up once (src/clients/stable-offsets.ts); and the idle bridge's wait
 * on the broker for committed records past known ends (src/clients/arrivals.ts).
 */
import assert from 'node:assert/strict';
import type { Admin, Kafka } from 'kafkajs';
import { ArrivalWatch } from '../../src/clients/arrivals';
import { createCluster, type KafkajsCluster } from '../../src/clients/kafka';
import { RangeReader, type RangeRecord } from '../../src/clients/range-reader';
import { sendOffsetsOnceDecided } from '../../src/clients/transactions';
import { fetchCommittedOffsets, fetchStableOffset } from '../../src/clients/stable-offsets';
import { testEnv } from '../helpers/env';
import { createTopics, produce, testKafka } from '../helpers/kafka';
import { withDeadline } from '../../src/process/wait';
import { waitFor } from '../helpers/wait';

describe('reading Kafka below kafkajs', function () {
  const t = testEnv('range-reader');
  const topic = `${t.id}-in`;
  let kafka: Kafka;
  let admin: Admin;
  let reader: RangeReader;
  let cluster: KafkajsCluster;

  before(async () => {
    kafka = testKafka(t.config);
    admin = kafka.admin();
    await admin.connect();
    await createTopics(kafka, [topic], 2);
    reader = new RangeReader(kafka);
    cluster = createCluster(kafka);
    await cluster.connect();
  });

  after(async () => {
    await reader.close();
    await cluster.disconnect().catch(() => undefined);
    await admin.disconnect();
  });

  const readAll = async (ranges: { partition: number; from: string; to: string }[], chunkBytes = 1024 * 1024): Promise<RangeRecord[][]> => {
    const chunks: RangeRecord[][] = [];
    for await (const chunk of reader.read(topic, ranges, { chunkBytes })) chunks.push(chunk);
    return chunks;
  };

  it('reads ranges across partitions in the order given, in chunks of the size asked, the same each time', async () => {
    await produce(kafka, topic, Array.from({ length: 40 }, (_, i) => ({ partition: i % 2, key: `k${i}`, value: `v${i}`.padEnd(100, '.') })));
    const ranges = [
      { partition: 1, from: '5', to: '15' },
      { partition: 0, from: '0', to: '20' },
    ];
    const chunks = await readAll(ranges, 1000);
    const places = chunks.flat().map((r) => `${r.partition}:${r.offset}`);
    const expected = [...Array.from({ length: 10 }, (_, i) => `1:${i + 5}`), ...Array.from({ length: 20 }, (_, i) => `0:${i}`)];
    assert.deepEqual(places, expected);
    for (const chunk of chunks.slice(0, -1)) assert.ok(chunk.reduce((n, r) => n + (r.key?.length ?? 0) + (r.value?.length ?? 0), 0) <= 1000);
    assert.ok(chunks.length >= 3, `chunks of at most 1000 bytes: ${chunks.length}`);
    assert.deepEqual((await readAll(ranges, 1000)).map((c) => c.map((r) => r.offset)), chunks.map((c) => c.map((r) => r.offset)));
  });

  it('reads every offset of many partitions whose records fill more than one response', async () => {
    const wide = `${t.id}-wide`;
    await createTopics(kafka, [wide], 6);
    const value = 'x'.repeat(5_000);
    await produce(kafka, wide, Array.from({ length: 6 * 30 }, (_, i) => ({ partition: i % 6, key: `k${i}`, value })));
    const ranges = Array.from({ length: 6 }, (_, partition) => ({ partition, from: '0', to: '30' }));
    const places: string[] = [];
    for await (const chunk of reader.read(wide, ranges, { chunkBytes: 100_000 })) places.push(...chunk.map((r) => `${r.partition}:${r.offset}`));
    assert.deepEqual(places, ranges.flatMap((r) => Array.from({ length: 30 }, (_, i) => `${r.partition}:${i}`)));
  });

  it('sizes each fetch to what is left of a range, and still reads every record when they grow 2,000-fold', async () => {
    const sized = `${t.id}-sized`;
    await createTopics(kafka, [sized], 2);
    // Partition 0: 2,000 small records, then 20 of 200 kB; partition 1: small ones only.
    const small = (i: number) => ({ key: `s${i}`, value: 's'.repeat(100) });
    await produce(kafka, sized, Array.from({ length: 2_000 }, (_, i) => ({ partition: 0, ...small(i) })), 50);
    await produce(kafka, sized, Array.from({ length: 20 }, (_, i) => ({ partition: 0, key: `l${i}`, value: 'l'.repeat(200_000) })), 1);
    await produce(kafka, sized, Array.from({ length: 2_000 }, (_, i) => ({ partition: 1, ...small(i) })), 50);
    const learner = new RangeReader(kafka);
    try {
      const read = async (ranges: { partition: number; from: string; to: string }[]) => {
        const places: string[] = [];
        for await (const chunk of learner.read(sized, ranges, { chunkBytes: 1024 * 1024 })) places.push(...chunk.map((r) => `${r.partition}:${r.offset}`));
        return places;
      };
      const offsets = (partition: number, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${partition}:${from + i}`);
      // Learns 100-byte records, then a range that ends in 200 kB ones.
      assert.deepEqual(await read([{ partition: 0, from: '0', to: '1000' }]), offsets(0, 0, 1000));
      assert.deepEqual(await read([{ partition: 0, from: '1990', to: '2020' }]), offsets(0, 1990, 2020));
      // A short range of a long partition: what the broker sends is about the range, not the 1 MB asked per fetch.
      assert.deepEqual(await read([{ partition: 1, from: '0', to: '100' }]), offsets(1, 0, 100));
      const before = learner.recordsFetched;
      assert.deepEqual(await read([{ partition: 1, from: '100', to: '150' }]), offsets(1, 100, 150));
      const decoded = learner.recordsFetched - before;
      assert.ok(decoded < 400, `records decoded for a range of 50 (of 100-byte records): ${decoded}`);
    } finally {
      await learner.close();
    }
  });

  it('leaves out the records of an aborted transaction and its markers, and keeps every committed one', async () => {
    const partition = 0;
    const start = (await reader.offsets(topic, 'stable')).get(partition)!;
    const producer = kafka.producer({ transactionalId: `${t.id}-txn`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (const [outcome, n] of [['abort', 3], ['commit', 2], ['abort', 4], ['commit', 1]] as const) {
        const txn = await producer.transaction();
        await txn.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ partition, key: `${outcome}-${i}`, value: outcome })) });
        await (outcome === 'abort' ? txn.abort() : txn.commit());
      }
    } finally {
      await producer.disconnect();
    }
    // A commit returns before its markers are written (the coordinator writes them after its
    // answer), so the last stable offset reaches the last transaction's end a moment later.
    const end = await waitFor(
      async () => {
        const stable = (await reader.offsets(topic, 'stable')).get(partition)!;
        return stable - start >= 14n ? stable : undefined;
      },
      { timeoutMs: 30_000, message: 'the last transaction to be decided' },
    );
    const records = (await readAll([{ partition, from: String(start), to: String(end) }])).flat();
    assert.deepEqual(records.map((r) => r.value?.toString()), ['commit', 'commit', 'commit']);
    assert.equal(end - start, 14n, '10 records and 4 markers');
  });

  it('reads a group’s committed offset only once the transaction committing it is decided', async () => {
    const group = `${t.id}-lane`;
    assert.equal(await fetchStableOffset(cluster, group, topic, 0), -1n, 'none yet');
    const producer = kafka.producer({ transactionalId: group, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const first = await producer.transaction();
      await sendOffsetsOnceDecided(first, { consumerGroupId: group, topics: [{ topic, partitions: [{ partition: 0, offset: '7' }] }] });
      await first.commit();
      assert.equal(await fetchStableOffset(cluster, group, topic, 0), 7n);

      const second = await producer.transaction();
      await sendOffsetsOnceDecided(second, { consumerGroupId: group, topics: [{ topic, partitions: [{ partition: 0, offset: '9' }] }] });
      let settled = false;
      const stable = fetchStableOffset(cluster, group, topic, 0).finally(() => (settled = true));
      // kafkajs's own fetch answers at once with the offset before the open transaction's.
      const [plain] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      assert.equal(plain?.partitions.find((p) => p.partition === 0)?.offset, '7');
      assert.equal(settled, false, 'the stable read waits while the transaction is open');
      await second.commit();
      assert.equal(await stable, 9n);
    } finally {
      await producer.disconnect();
    }
  });
  it('reads several partitions’ committed offsets and metadata with one OffsetFetch each time, the coordinator looked up once', async () => {
    const group = `${t.id}-bridge`;
    const coordinator = (await (cluster as unknown as GroupCluster).findGroupCoordinator({ groupId: group })) as unknown as OffsetCommitter;
    // A group with no members takes commits from anyone: generation -1, no member id.
    await coordinator.offsetCommit({
      groupId: group,
      groupGenerationId: -1,
      memberId: '',
      topics: [{ topic, partitions: [{ partition: 0, offset: '5', metadata: 'token-0' }, { partition: 1, offset: '8', metadata: 'token-1' }] }],
    });
    const fresh = createCluster(kafka);
    await fresh.connect();
    try {
      const counted = countCalls(fresh as unknown as Record<string, unknown>, ['findGroupCoordinator', 'refreshMetadata', 'refreshMetadataIfNecessary']);
      let afterFirst: Record<string, number> | undefined;
      for (let i = 0; i < 5; i++) {
        const read = await fetchCommittedOffsets(fresh, group, topic, [0, 1]);
        assert.deepEqual([...read.entries()], [
          [0, { offset: 5n, metadata: 'token-0' }],
          [1, { offset: 8n, metadata: 'token-1' }],
        ]);
        afterFirst ??= { ...counted };
      }
      // The first read finds the coordinator (and a fresh cluster's first metadata); later ones send the OffsetFetch alone.
      assert.equal(afterFirst!.findGroupCoordinator, 1);
      assert.deepEqual(counted, afterFirst);
      const none = await fetchCommittedOffsets(fresh, `${group}-none`, topic, [1]);
      assert.deepEqual([...none.entries()], [[1, { offset: -1n, metadata: '' }]], 'a group without commits');
    } finally {
      await fresh.disconnect();
    }
  });
  describe('waiting for records past known ends (src/clients/arrivals.ts)', () => {
    const watched = `${t.id}-watched`;
    let watch: ArrivalWatch;
    const stableEnds = async () => reader.offsets(watched, 'stable');

    before(async () => {
      await createTopics(kafka, [watched], 2);
      watch = new ArrivalWatch(kafka, watched);
    });
    after(() => watch.close());

    it('gives up at its limit when nothing comes, and an open transaction does not wake it', async () => {
      const ends = await stableEnds();
      assert.equal(await watch.wait(ends, 300, new AbortController().signal), false, 'nothing came');
      const producer = kafka.producer({ transactionalId: `${t.id}-watched-txn`, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      try {
        const txn = await producer.transaction();
        await txn.send({ topic: watched, messages: [{ partition: 1, key: 'open', value: 'open' }] });
        assert.equal(await watch.wait(ends, 500, new AbortController().signal), false, 'records of an open transaction are not there yet');
        // Held far longer than the test waits: only the commit can end it in time.
        const woken = watch.wait(ends, 120_000, new AbortController().signal);
        await txn.commit();
        assert.equal(await withDeadline(woken, 20_000, 'the wait to end at the commit'), true);
      } finally {
        await producer.disconnect();
      }
    });

    it('ends at once when its caller gives up, and the next wait takes over the fetch under way', async () => {
      const ends = await stableEnds();
      const giveUp = new AbortController();
      const first = watch.wait(ends, 120_000, giveUp.signal);
      giveUp.abort();
      assert.equal(await withDeadline(first, 5_000, 'the abandoned wait'), false);
      const second = watch.wait(ends, 120_000, new AbortController().signal);
      await produce(kafka, watched, [{ partition: 0, key: 'k', value: 'v' }]);
      assert.equal(await withDeadline(second, 20_000, 'the wait to end at the record'), true);
    });

    it('says why it cannot wait when an end is past the partition\'s log', async () => {
      const ends = await stableEnds();
      const beyond = new Map([...ends].map(([p, end]) => [p, end + 1_000n]));
      await assert.rejects(withDeadline(watch.wait(beyond, 120_000, new AbortController().signal), 20_000, 'the wait to fail'), /offset/i);
    });
  });
});

interface GroupCluster {
  findGroupCoordinator(options: { groupId: string }): Promise<unknown>;
}

interface OffsetCommitter {
  offsetCommit(request: { groupId: string; groupGenerationId: number; memberId: string; topics: { topic: string; partitions: { partition: number; offset: string; metadata: string }[] }[] }): Promise<unknown>;
}

/** Counts the calls of `methods` on `target` from now on (the methods are wrapped in place). */
function countCalls(target: Record<string, unknown>, methods: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of methods) {
    counts[name] = 0;
    const original = target[name] as (...args: unknown[]) => unknown;
    target[name] = (...args: unknown[]) => {
      counts[name]!++;
      return original.apply(target, args);
    };
  }
  return counts;
}
