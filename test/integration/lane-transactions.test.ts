/**
 * A lane's transactions on a real broker: a new attempt's producer fences every earlier producer
 * of the lane, and the lane's mark, read after the fence, decides whether a chunk was published
 * already. Readers with read_committed see each chunk once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createKafka } from '../../src/clients/kafka';
import { byPartition } from '../../src/clients/partitioned-send';
import { LaneTransactions } from '../../src/clients/transactions';
import { createLogger } from '../../src/log';
import { testEnv } from '../helpers/env';
import { createTopics, TopicReader } from '../helpers/kafka';
import { waitFor } from '../helpers/wait';

describe('lane transactions', function () {
  const { id, config, env } = testEnv('lanes');
  const kafka = createKafka(config.kafka, { clientId: 'test' });
  const anchor = `${id}-anchor`;
  const output = `${id}-out`;
  const transactions = new LaneTransactions(kafka, createLogger('worker', config), { transactionTimeoutMs: 30_000, maxRequestBytes: 512 * 1024, idleMs: 60_000 });
  const record = (value: string) => ({ topic: output, message: { key: value, value }, size: value.length + 16, offset: '0' });

  before(async () => {
    await createTopics(kafka, [anchor, output], 1);
  });
  after(async () => {
    await transactions.close();
  });

  it('fences an earlier attempt of the lane, and publishes each chunk once', async () => {
    const lane = `${id}-group/${anchor}/run/lane-0`;
    const first = transactions.lease(lane);
    assert.equal(await first.publishOnce(anchor, 1n, [record('chunk 1, first attempt')]), 'published');
    // A retry of the lane while the first attempt still holds its producer: a producer of its own.
    const retry = transactions.lease(lane);
    await retry.ready();
    await assert.rejects(first.publishOnce(anchor, 2n, [record('chunk 2, first attempt')]), 'the first attempt is fenced before the retry sends anything');
    first.release();
    assert.equal(await retry.publishOnce(anchor, 1n, [record('chunk 1, retry')]), 'already-published', 'the mark says chunk 1 is out');
    assert.equal(await retry.publishOnce(anchor, 2n, [record('chunk 2, retry')]), 'published');
    retry.release();

    const reader = await new TopicReader(kafka, [output]).start();
    try {
      await waitFor(() => reader.of(output).length >= 2, { timeoutMs: 30_000, message: 'both chunks to be readable' });
      assert.deepEqual(
        reader.of(output).map((m) => m.value!.toString()),
        ['chunk 1, first attempt', 'chunk 2, retry'],
        'read_committed: each chunk once, nothing of the fenced attempt after the fence',
      );
    } finally {
      await reader.close();
    }
  });

  it("adds all of a chunk's partitions to its transaction in one request, where the worker loads kafkajs", async () => {
    const logins = `${id}-wide-out`;
    const deadLetters = `${id}-wide-dlq`;
    await createTopics(kafka, [logins, deadLetters], 4);
    // Keys spread over the four partitions of each topic.
    const messages = [
      ...Array.from({ length: 40 }, (_, i) => ({ topic: logins, key: `login-${i}`, value: `login ${i}` })),
      ...Array.from({ length: 12 }, (_, i) => ({ topic: deadLetters, key: `dead-${i}`, value: `dead letter ${i}` })),
    ];
    const written = await partitionsWritten(messages);
    assert.equal(written, 8, 'the test means a chunk over eight partitions');
    const child = join(__dirname, '..', 'helpers', 'lane-publish-child.js');
    const job = { lane: `${id}-group/${anchor}/run/lane-wide`, anchor, messages };
    const { stdout } = await promisify(execFile)(process.execPath, [child, JSON.stringify(job)], { env: { ...process.env, ...env }, timeout: 60_000 });
    const sent = JSON.parse(stdout.trim().split('\n').pop()!) as { kept: boolean; outcome: string; addPartitionsToTxn: number; produce: number; endTxn: number };
    assert.equal(sent.kept, true, 'loaded before kafkajs, the module keeps the managers');
    assert.equal(sent.outcome, 'published');
    assert.equal(sent.addPartitionsToTxn, 1, 'one AddPartitionsToTxn for the eight partitions (kafkajs alone sends one per partition)');
    assert.equal(sent.produce, 8, 'still one send per partition (src/clients/partitioned-send.ts)');
    assert.equal(sent.endTxn, 1);

    const reader = await new TopicReader(kafka, [logins, deadLetters]).start();
    try {
      await waitFor(() => reader.of(logins).length + reader.of(deadLetters).length >= messages.length, { timeoutMs: 30_000, message: 'the chunk to be readable' });
      const read = (topic: string) => reader.of(topic).map((m) => m.value!.toString()).sort();
      assert.deepEqual(read(logins), messages.filter((m) => m.topic === logins).map((m) => m.value).sort(), 'every login once, read_committed');
      assert.deepEqual(read(deadLetters), messages.filter((m) => m.topic === deadLetters).map((m) => m.value).sort(), 'every dead letter once, read_committed');
    } finally {
      await reader.close();
    }
  });

  it('looks each coordinator up once for all of a lane’s transactions, where the worker loads kafkajs', async () => {
    const logins = `${id}-kept-out`;
    await createTopics(kafka, [logins], 2);
    const messages = Array.from({ length: 6 }, (_, i) => ({ topic: logins, key: `login-${i}`, value: `login ${i}` }));
    const child = join(__dirname, '..', 'helpers', 'lane-publish-child.js');
    const job = { lane: `${id}-group/${anchor}/run/lane-kept`, anchor, messages, chunks: 4 };
    const { stdout } = await promisify(execFile)(process.execPath, [child, JSON.stringify(job)], { env: { ...process.env, ...env }, timeout: 60_000 });
    const sent = JSON.parse(stdout.trim().split('\n').pop()!) as { outcome: string; endTxn: number; lookupsByChunk: number[] };
    assert.equal(sent.outcome, 'published');
    assert.equal(sent.endTxn, 4, 'four transactions');
    // The first: the lane's transaction coordinator, its mark's group coordinator for the read and for the commit
    // (kafkajs alone: four lookups for every transaction, one before each of its coordinator requests).
    assert.ok(sent.lookupsByChunk[0]! >= 1 && sent.lookupsByChunk[0]! <= 3, `the first transaction's lookups: ${sent.lookupsByChunk[0]}`);
    assert.deepEqual(sent.lookupsByChunk.slice(1), [0, 0, 0], 'none after the first');

    const reader = await new TopicReader(kafka, [logins]).start();
    try {
      await waitFor(() => reader.of(logins).length >= 4 * messages.length, { timeoutMs: 30_000, message: 'the four chunks to be readable' });
      const expected = [1, 2, 3, 4].flatMap((chunk) => messages.map((m) => `${m.value} (chunk ${chunk})`)).sort();
      assert.deepEqual(reader.of(logins).map((m) => m.value!.toString()).sort(), expected, 'every login once, read_committed');
    } finally {
      await reader.close();
    }
  });

  /** How many topic-partitions the producers' partitioner puts the messages on (four partitions each). */
  async function partitionsWritten(messages: { topic: string; key: string; value: string }[]): Promise<number> {
    const metadata = [0, 1, 2, 3].map((partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
    const groups = await byPartition(
      messages.map(({ topic, key, value }) => ({ topic, message: { key, value } })),
      async () => metadata,
    );
    return groups.length;
  }
});
