/**
 * The committed-offsets read (src/clients/stable-offsets.ts) against a fake cluster whose group
 * coordinators answer as Kafka's do: the coordinator is looked up once and kept, and looked up
 * again only after a request through it failed because it moved or its connection broke.
 */
import assert from 'node:assert/strict';
import type { KafkajsCluster } from '../../src/clients/kafka';
import { fetchCommittedOffsets, fetchStableOffset } from '../../src/clients/stable-offsets';

/* eslint-disable @typescript-eslint/no-require-imports */
const { createErrorFromCode } = require('kafkajs/src/protocol/error') as { createErrorFromCode: (code: number) => Error };
/* eslint-enable @typescript-eslint/no-require-imports */

const NOT_COORDINATOR = 16;
const UNSTABLE_OFFSET_COMMIT = 88;

type Answer = { offset: string; metadata: string | null; errorCode: number };

/** A coordinator whose answers come from `answer`, one call per request; it counts its requests. */
function coordinator(name: string, answer: (partition: number, request: number) => Answer | Error) {
  const broker = {
    name,
    requests: 0,
    versions: { 9: { minVersion: 0, maxVersion: 8 } },
    connectionPool: {
      send: async (protocolRequest: { request: { apiKey: number; encode(): Promise<unknown> } }) => {
        assert.equal(protocolRequest.request.apiKey, 9, 'an OffsetFetch');
        await protocolRequest.request.encode();
        const request = ++broker.requests;
        const partitions: { partition: number; offset: string; metadata: string | null; errorCode: number }[] = [];
        for (const partition of [0, 1, 2, 3]) {
          const a = answer(partition, request);
          if (a instanceof Error) throw a;
          partitions.push({ partition, ...a });
        }
        return partitions;
      },
    },
  };
  return broker;
}

type FakeBroker = ReturnType<typeof coordinator>;

/** A cluster whose coordinator lookups return the brokers of `lookups` in turn; it counts them. */
function clusterOf(...lookups: FakeBroker[]) {
  const cluster = {
    lookups: 0,
    findGroupCoordinator: async () => {
      const broker = lookups[Math.min(cluster.lookups, lookups.length - 1)]!;
      cluster.lookups++;
      return broker;
    },
  };
  return cluster;
}

const asCluster = (fake: object) => fake as unknown as KafkajsCluster;
const committed = (offset: number, metadata: string | null = null): Answer => ({ offset: String(offset), metadata, errorCode: 0 });

describe('committed offsets read through a kept coordinator', () => {
  it('looks the coordinator up once for many reads, and gives each asked partition its offset and metadata', async () => {
    const a = coordinator('a', (p) => committed(10 + p, `m${p}`));
    const cluster = clusterOf(a);
    for (let i = 0; i < 5; i++) {
      const read = await fetchCommittedOffsets(asCluster(cluster), 'g', 't', [1, 3]);
      assert.deepEqual([...read.entries()], [
        [1, { offset: 11n, metadata: 'm1' }],
        [3, { offset: 13n, metadata: 'm3' }],
      ]);
    }
    assert.equal(cluster.lookups, 1);
    assert.equal(a.requests, 5);
  });

  it('keeps one coordinator per group', async () => {
    const cluster = clusterOf(coordinator('a', () => committed(1)));
    await fetchCommittedOffsets(asCluster(cluster), 'g1', 't', [0]);
    await fetchCommittedOffsets(asCluster(cluster), 'g2', 't', [0]);
    await fetchCommittedOffsets(asCluster(cluster), 'g1', 't', [0]);
    assert.equal(cluster.lookups, 2);
  });

  it('looks the coordinator up again when the one it kept is no longer the coordinator', async () => {
    const moved = coordinator('a', (_p, request) => (request === 1 ? committed(1) : { ...committed(-1), errorCode: NOT_COORDINATOR }));
    const now = coordinator('b', () => committed(2));
    const cluster = clusterOf(moved, now);
    assert.equal(await fetchStableOffset(asCluster(cluster), 'g', 't', 0), 1n);
    assert.equal(await fetchStableOffset(asCluster(cluster), 'g', 't', 0), 2n, 'answered by the new coordinator');
    assert.equal(cluster.lookups, 2);
    assert.equal(await fetchStableOffset(asCluster(cluster), 'g', 't', 0), 2n);
    assert.equal(cluster.lookups, 2, 'and keeps the new one');
  });

  it('looks the coordinator up again when the connection to the one it kept broke', async () => {
    const broken = Object.assign(new Error('Connection error: ECONNREFUSED'), { name: 'KafkaJSConnectionError' });
    const gone = coordinator('a', (_p, request) => (request === 1 ? committed(1) : broken));
    const cluster = clusterOf(gone, coordinator('b', () => committed(3)));
    assert.equal(await fetchStableOffset(asCluster(cluster), 'g', 't', 0), 1n);
    assert.equal(await fetchStableOffset(asCluster(cluster), 'g', 't', 0), 3n);
    assert.equal(cluster.lookups, 2);
  });

  it('waits out a transaction still completing on the same coordinator', async () => {
    const a = coordinator('a', (_p, request) => (request < 3 ? { ...committed(-1), errorCode: UNSTABLE_OFFSET_COMMIT } : committed(9)));
    const cluster = clusterOf(a);
    assert.equal(await fetchStableOffset(asCluster(cluster), 'g', 't', 0), 9n);
    assert.equal(a.requests, 3);
    assert.equal(cluster.lookups, 1, 'the coordinator did not move');
  });

  it('does not keep a lookup that failed', async () => {
    let lookups = 0;
    const b = coordinator('b', () => committed(4));
    const cluster = {
      findGroupCoordinator: async () => {
        if (++lookups === 1) throw createErrorFromCode(15); // COORDINATOR_NOT_AVAILABLE
        return b;
      },
    };
    assert.equal(await fetchStableOffset(asCluster(cluster), 'g', 't', 0), 4n);
    assert.equal(lookups, 2);
  });

  it('fails at once, with the broker’s error, on what a retry cannot mend', async () => {
    const cluster = clusterOf(coordinator('a', () => ({ ...committed(-1), errorCode: 30 }))); // GROUP_AUTHORIZATION_FAILED
    await assert.rejects(fetchCommittedOffsets(asCluster(cluster), 'g', 't', [0]), (err: Error & { type?: string }) => err.type === 'GROUP_AUTHORIZATION_FAILED');
  });
});
