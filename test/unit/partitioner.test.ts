import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { FastJavaCompatiblePartitioner, murmur2 } from '../../src/clients/partitioner';

// kafkajs's own Java-compatible murmur2 (untyped, internal), the reference.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: Buffer) => number;

describe('partitioner', () => {
  it('hashes every key exactly as kafkajs (and the Java client) do', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => murmur2(bytes) === kafkajsMurmur2(Buffer.from(bytes))), { numRuns: 3000 });
    for (const key of ['', 'a', 'ab', 'abc', 'abcd', '0c9d8f36-3cbc-4f4a-a6bb-0e8a1b2c3d4e']) assert.equal(murmur2(Buffer.from(key)), kafkajsMurmur2(Buffer.from(key)), key);
  });

  it('sends a keyed message where the default partitioner would, and keyless ones round the partitions', () => {
    const partitionMetadata = Array.from({ length: 6 }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
    const partition = FastJavaCompatiblePartitioner();
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(16).toString('hex');
      const expected = (kafkajsMurmur2(Buffer.from(key)) & 0x7fffffff) % 6;
      assert.equal(partition({ topic: 't', partitionMetadata, message: { key, value: 'v' } }), expected);
    }
    const keyless = Array.from({ length: 6 }, () => partition({ topic: 't', partitionMetadata, message: { value: 'v' } }));
    assert.deepEqual([...keyless].sort(), [0, 1, 2, 3, 4, 5]);
    assert.equal(partition({ topic: 't', partitionMetadata, message: { key: 'k', value: 'v', partition: 4 } }), 4);
  });
});
