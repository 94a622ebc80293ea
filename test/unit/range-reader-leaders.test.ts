/**
 * The range reader when Kafka's metadata names no leader for a partition it reads (stale
 * metadata, or an election under way): kafkajs leaves such a partition out of its leaders, and a
 * round that fetched nothing was tried again at once, for good, without reading the metadata
 * again. Against the stand-in broker of an engine's rehearsal, whose metadata is made stale here.
 */
import assert from 'node:assert/strict';
import { RangeReader } from '../../src/clients/range-reader';
import { rehearsalConnection } from '../../src/worker/rehearsal-kafka';

describe('range reader without a known leader', () => {
  it('reads the metadata again, and then every record of the range', async () => {
    const held = Array.from({ length: 30 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`value ${i}`) }));
    const connection = await rehearsalConnection('stale', held, 2);
    const { cluster } = connection;
    const leaders = cluster.findLeaderForPartitions.bind(cluster);
    let refreshes = 0;
    cluster.refreshMetadata = async () => void refreshes++;
    // No leader for partition 1 until the metadata is read again.
    cluster.findLeaderForPartitions = (topic, partitions) => (refreshes > 0 ? leaders(topic, partitions) : leaders(topic, partitions.filter((p) => p !== 1)));
    const reader = new RangeReader(connection);
    const offsets: string[] = [];
    for await (const chunk of reader.read('stale', [{ partition: 1, from: '0', to: '15' }], { chunkBytes: 1024 })) offsets.push(...chunk.map((r) => r.offset));
    assert.equal(refreshes, 1);
    assert.deepEqual(offsets, Array.from({ length: 15 }, (_, i) => String(i)));
  });
});
