/**
 * The worker's produce encoding (src/clients/produce-encoding.ts) against kafkajs's own: the same
 * bytes for every request it takes, and kafkajs's encoder for the ones it does not. And its
 * grouping by partition (src/clients/kafkajs-grouping.ts) against kafkajs's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import Module from 'node:module';
import fc from 'fast-check';
import { groupMessagesPerPartition } from '../../src/clients/kafkajs-grouping';
import { FastJavaCompatiblePartitioner } from '../../src/clients/partitioner';
import { encodable, encodeProduceRequest, installFastProduceEncoding, type ProduceArgs } from '../../src/clients/produce-encoding';

/* eslint-disable @typescript-eslint/no-require-imports */
type Encoded = Promise<{ buffer: Buffer }>;
const kafkajsVersions = [3, 4, 5, 6, 7].map((v) => require(`kafkajs/src/protocol/requests/produce/v${v}/request.js`) as (args: ProduceArgs) => { encode(): Encoded });
const produceDefinition = require('kafkajs/src/protocol/requests/produce/index.js') as { protocol(which: { version: number }): (args: ProduceArgs) => { request: { encode(): Encoded } } };
const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): unknown };
/* eslint-enable @typescript-eslint/no-require-imports */

const NOW = 1_795_000_000_123;

/** Runs `fn` with Date.now() fixed: both encoders stamp the batch with the time of encoding. */
async function atFixedTime<T>(fn: () => Promise<T>): Promise<T> {
  const real = Date.now;
  Date.now = () => NOW;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

const bytes = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
);
const headerValue = fc.oneof(fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)));
const headers = fc.dictionary(fc.stringMatching(/^[a-z][a-z.]{0,11}$/), fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 })), { maxKeys: 4 });
const message = fc.record({ key: bytes, value: bytes, headers: fc.option(headers, { nil: undefined }) });
const partition = fc.record({ partition: fc.nat(63), firstSequence: fc.option(fc.nat(2 ** 31 - 1), { nil: undefined }), messages: fc.array(message, { maxLength: 30 }) });
const request: fc.Arbitrary<ProduceArgs> = fc.record({
  acks: fc.constantFrom(-1, 0, 1),
  timeout: fc.nat(60_000),
  transactionalId: fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: null }),
  producerId: fc.oneof(fc.constant(undefined), fc.nat(), fc.bigInt({ min: 0n, max: 2n ** 62n }).map((n) => Long.fromValue(n.toString()))),
  producerEpoch: fc.option(fc.nat(32_767), { nil: undefined }),
  topicData: fc.array(fc.record({ topic: fc.string({ minLength: 1, maxLength: 30 }), partitions: fc.array(partition, { minLength: 1, maxLength: 3 }) }), { minLength: 1, maxLength: 2 }),
});

describe('produce encoding', () => {
  it('writes the bytes kafkajs writes, for every produce version from 3 to 7', async () => {
    await fc.assert(
      fc.asyncProperty(request, fc.nat(4), async (args, version) => {
        const theirs = await atFixedTime(() => kafkajsVersions[version]!(args).encode());
        const ours = await atFixedTime(async () => encodeProduceRequest(args));
        assert.ok(encodable(args));
        assert.ok(ours.equals(theirs.buffer), 'the encodings differ');
      }),
      { numRuns: 400 },
    );
  });

  it('encodes a headers object changed between two requests as it is at each', async () => {
    const headers: Record<string, string> = { type: 'login' };
    const args: ProduceArgs = { acks: -1, timeout: 1_000, topicData: [{ topic: 'out', partitions: [{ partition: 0, messages: [{ key: 'a', value: '1', headers }, { key: 'b', value: '2', headers }] }] }] };
    for (const value of ['login', 'dead-letter']) {
      headers.type = value;
      const theirs = await atFixedTime(() => kafkajsVersions[0]!(args).encode());
      assert.ok((await atFixedTime(async () => encodeProduceRequest(args))).equals(theirs.buffer));
    }
  });

  it('once installed, encodes through kafkajs the same bytes, and leaves to kafkajs what it does not cover', async () => {
    installFastProduceEncoding();
    installFastProduceEncoding();
    const plain: ProduceArgs = { acks: -1, timeout: 30_000, transactionalId: 'lane-1', producerId: 7, producerEpoch: 2, topicData: [{ topic: 'out', partitions: [{ partition: 1, firstSequence: 5, messages: [{ key: 'u1', value: '{"a":1}', headers: { type: 'login' } }] }] }] };
    const withTimestamp: ProduceArgs = { ...plain, topicData: [{ topic: 'out', partitions: [{ partition: 0, messages: [{ key: 'u1', value: 'v', timestamp: '1700000000000' }] }] }] };
    const compressed: ProduceArgs = { ...plain, compression: 1 };
    const withNumber: ProduceArgs = { ...plain, topicData: [{ topic: 'out', partitions: [{ partition: 0, messages: [{ key: 'u1', value: 'v', headers: { n: 1 } }] }] }] };
    assert.equal(encodable(withTimestamp), false);
    assert.equal(encodable(compressed), false);
    assert.equal(encodable(withNumber), false);
    for (const args of [plain, withTimestamp]) {
      const theirs = await atFixedTime(() => kafkajsVersions[4]!(args).encode());
      const routed = await atFixedTime(() => produceDefinition.protocol({ version: 7 })(args).request.encode());
      assert.ok(routed.buffer.equals(theirs.buffer));
    }
    assert.ok((await atFixedTime(() => produceDefinition.protocol({ version: 7 })(plain).request.encode())).buffer.equals(await atFixedTime(async () => encodeProduceRequest(plain))));
  });
});

describe('linear grouping of a send by partition', () => {
  /** kafkajs's own grouping, compiled afresh: the one in require.cache may be ours. */
  function kafkajsGrouping(): typeof groupMessagesPerPartition {
    const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
    const original = new Module(path);
    (original as unknown as { _compile(source: string, filename: string): void })._compile(readFileSync(path, 'utf8'), path);
    return original.exports as typeof groupMessagesPerPartition;
  }

  it('groups as kafkajs does', () => {
    const theirs = kafkajsGrouping();
    fc.assert(
      fc.property(fc.nat(8), fc.array(fc.record({ key: fc.option(fc.string({ maxLength: 8 }), { nil: null }), value: fc.string({ maxLength: 4 }), partition: fc.option(fc.nat(7), { nil: undefined }) }), { maxLength: 60 }), (count, messages) => {
        const partitionMetadata = Array.from({ length: count }, (_, i) => ({ partitionId: i, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
        // A partitioner each: a key-less record's partition depends on how many came before.
        const args = () => ({ topic: 't', partitionMetadata, messages, partitioner: FastJavaCompatiblePartitioner() });
        assert.deepEqual(groupMessagesPerPartition(args()), theirs(args()));
      }),
    );
  });

  it('takes kafkajs\'s place when it is loaded first', () => {
    const script = `require(${JSON.stringify(require.resolve('../../src/clients/kafkajs-grouping'))}); require('kafkajs'); process.stdout.write(String(require(${JSON.stringify(require.resolve('../../src/clients/kafkajs-grouping'))}).linearGroupingInstalled()))`;
    assert.equal(execFileSync(process.execPath, ['-e', script], { cwd: process.cwd(), encoding: 'utf8' }), 'true');
    const late = `require('kafkajs'); process.stdout.write(String(require(${JSON.stringify(require.resolve('../../src/clients/kafkajs-grouping'))}).linearGroupingInstalled()))`;
    assert.equal(execFileSync(process.execPath, ['-e', late], { cwd: process.cwd(), encoding: 'utf8' }), 'false');
  });
});
