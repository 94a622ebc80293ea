/**
 * kafkajs 2.2.4's send, driven against two fake brokers, drops and repeats records when it
 * retries a send whose partitions are led by two brokers (src/clients/partitioned-send.ts says
 * how); one send per partition does neither. The fakes answer as Kafka does: a produce appends
 * its records unless its producer's sequence numbers say the broker has them already.
 */
import assert from 'node:assert/strict';
import type { Message, PartitionMetadata } from 'kafkajs';
import { byPartition, settleEach } from '../../src/clients/partitioned-send';
import { FastJavaCompatiblePartitioner } from '../../src/clients/partitioner';
import { sendByPartition, sendOffsetsOnceDecided } from '../../src/clients/transactions';
import { sleep } from '../../src/process/wait';

/* eslint-disable @typescript-eslint/no-require-imports */
const sendMessages = require('kafkajs/src/producer/sendMessages') as (deps: object) => (request: { acks?: number; topicMessages?: { topic: string; messages: Message[] }[] }) => Promise<unknown>;
const createRetry = require('kafkajs/src/retry') as (options: object) => unknown;
/* eslint-enable @typescript-eslint/no-require-imports */

const TOPIC = 'in';

interface ProduceRequest {
  topicData: { topic: string; partitions: { partition: number; firstSequence: number; messages: Message[] }[] }[];
}

/** "topic:partition" of a place. */
type Place = string;
const place = (topic: string, partition: number): Place => `${topic}:${partition}`;

/**
 * Two brokers and the logs of the partitions they lead; `leaders` maps a place to its broker,
 * `afterRefresh` is what a metadata refresh finds; `behaviour` runs before a broker appends.
 */
class FakeCluster {
  readonly logs = new Map<Place, string[]>();
  /** Per place, the next sequence number the (single) producer may write. */
  private readonly nextSequence = new Map<Place, number>();
  readonly brokers: Record<number, { nodeId: number; produce: (r: ProduceRequest) => Promise<unknown> }>;

  constructor(
    private leaders: Record<Place, number>,
    private readonly afterRefresh: Record<Place, number>,
    behaviour: Record<number, (request: ProduceRequest, attempt: number) => Promise<void>>,
  ) {
    const attempts: Record<number, number> = {};
    const broker = (nodeId: number) => ({
      nodeId,
      produce: async (request: ProduceRequest) => {
        attempts[nodeId] = (attempts[nodeId] ?? 0) + 1;
        await behaviour[nodeId]?.(request, attempts[nodeId]);
        return { topics: request.topicData.map((t) => ({ topicName: t.topic, partitions: t.partitions.map((p) => this.append(t.topic, p)) })) };
      },
    });
    this.brokers = { 1: broker(1), 2: broker(2) };
  }

  log(topic: string, partition = 0): string[] {
    return this.logs.get(place(topic, partition)) ?? [];
  }

  /** As a broker with idempotence: a batch at a sequence already written is acknowledged, not appended. */
  private append(topic: string, p: { partition: number; firstSequence: number; messages: Message[] }) {
    const at = place(topic, p.partition);
    const next = this.nextSequence.get(at) ?? 0;
    if (p.firstSequence >= next) {
      this.logs.set(at, [...this.log(topic, p.partition), ...p.messages.map((m) => String(m.value))]);
      this.nextSequence.set(at, p.firstSequence + p.messages.length);
    }
    return { partition: p.partition, errorCode: 0, baseOffset: '0' };
  }

  partitionMetadata(topic: string): PartitionMetadata[] {
    return Object.keys(this.leaders)
      .filter((p) => p.startsWith(`${topic}:`))
      .map((p) => Number(p.split(':')[1]))
      .map((partitionId) => ({ partitionId, leader: this.leaders[place(topic, partitionId)]!, partitionErrorCode: 0, replicas: [1, 2], isr: [1, 2] }));
  }

  /** What kafkajs's send uses of its Cluster. */
  kafkajsCluster() {
    return {
      refreshMetadataIfNecessary: async () => undefined,
      refreshMetadata: async () => {
        this.leaders = this.afterRefresh;
      },
      addMultipleTargetTopics: async () => undefined,
      isConnected: () => true,
      removeBroker: () => undefined,
      findTopicPartitionMetadata: (topic: string) => this.partitionMetadata(topic),
      findLeaderForPartitions: (topic: string, partitions: (number | string)[]) => {
        const byLeader: Record<number, number[]> = {};
        for (const p of partitions.map(Number)) (byLeader[this.leaders[place(topic, p)]!] ??= []).push(p);
        return byLeader;
      },
      findBroker: async ({ nodeId }: { nodeId: number | string }) => this.brokers[Number(nodeId)],
    };
  }
}

/** kafkajs's send over the fake cluster, with an idempotent producer's sequence numbers, as a lane's producer is configured. */
function kafkajsSend(cluster: FakeCluster) {
  const sequences = new Map<string, number>();
  const eosManager = {
    isTransactional: () => false,
    acquireBrokerLock: async () => undefined,
    releaseBrokerLock: async () => undefined,
    getSequence: (topic: string, partition: number) => sequences.get(place(topic, partition)) ?? 0,
    updateSequence: (topic: string, partition: number, n: number) => sequences.set(place(topic, partition), (sequences.get(place(topic, partition)) ?? 0) + n),
    getProducerId: () => 1000,
    getProducerEpoch: () => 0,
    getTransactionalId: () => undefined,
  };
  const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  return sendMessages({
    logger,
    cluster: cluster.kafkajsCluster(),
    partitioner: FastJavaCompatiblePartitioner(),
    eosManager,
    retrier: createRetry({ retries: 5, initialRetryTime: 25, maxRetryTime: 100, factor: 0, multiplier: 1 }),
  });
}

const records = (label: string | number, n: number, partition?: number): Message[] => Array.from({ length: n }, (_, i) => ({ partition, value: `${label}-${i}` }));
const values = (label: string | number, n: number) => records(label, n).map((m) => String(m.value));

const connectionError = () => Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError', retriable: true });
const concurrentTransactions = () =>
  Object.assign(new Error('The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing'), {
    name: 'KafkaJSProtocolError',
    type: 'CONCURRENT_TRANSACTIONS',
    retriable: true,
  });

/** Broker 1 (leader of `first`) dies: its produce fails, and `first`'s new leader is broker 2 (`second`'s), which has answered already. */
const brokerDies = (first: Place, second: Place) => new FakeCluster({ [first]: 1, [second]: 2 }, { [first]: 2, [second]: 2 }, { 1: async () => Promise.reject(connectionError()) });

/** Broker 1 fails its part at once (as AddPartitionsToTxn's CONCURRENT_TRANSACTIONS does), while broker 2 takes 100 ms to answer. */
const oneFailsWhileTheOtherWrites = (first: Place, second: Place) =>
  new FakeCluster({ [first]: 1, [second]: 2 }, { [first]: 1, [second]: 2 }, {
    1: async (_r, attempt) => {
      if (attempt === 1) throw concurrentTransactions();
    },
    2: () => sleep(100),
  });

async function sendPerPartition(cluster: FakeCluster, messages: Message[]): Promise<void> {
  const send = kafkajsSend(cluster);
  const partitions = await byPartition(
    messages.map((message) => ({ topic: TOPIC, message })),
    async (topic) => cluster.partitionMetadata(topic),
  );
  await settleEach(partitions, (p) => send({ acks: -1, topicMessages: [{ topic: p.topic, messages: p.items.map((i) => i.message) }] }));
}

/**
 * A lane's chunk: logins to `out`, dead letters to `dlq`, as the worker publishes them
 * (src/clients/transactions.ts): its partitions added ahead, so sent at once, or not.
 */
async function publishChunk(cluster: FakeCluster, logins: number, deadLetters: number, addedAhead: boolean): Promise<void> {
  const send = kafkajsSend(cluster);
  const outgoing = (topic: string, n: number) => records(topic, n).map((message, i) => ({ topic, message: { ...message, key: `k${i}` }, size: 100, offset: String(i) }));
  await sendByPartition(
    { sendBatch: (batch) => send(batch) as never },
    [...outgoing('out', logins), ...outgoing('dlq', deadLetters)],
    async (topic) => cluster.partitionMetadata(topic),
    1_000_000,
    async () => addedAhead,
  );
}

/**
 * The order in which a chunk's sends start and end, each taking a few milliseconds, with the
 * partitions' leaders given by partition (the same for both topics).
 */
async function sendOrder(addedAhead: boolean, leaders: number[]): Promise<string[]> {
  const partitionMetadata: PartitionMetadata[] = leaders.map((leader, partitionId) => ({ partitionId, leader, partitionErrorCode: 0, replicas: [leader], isr: [leader] }));
  const calls: string[] = [];
  const outgoing = (topic: string, n: number) => records(topic, n).map((message, i) => ({ topic, message: { ...message, partition: i % 4 }, size: 100, offset: String(i) }));
  const sendBatch = async ({ topicMessages }: { topicMessages?: { topic: string; messages: Message[] }[] }) => {
    const name = `${topicMessages![0]!.topic}/${topicMessages![0]!.messages[0]!.partition}`;
    calls.push(`start ${name}`);
    await sleep(5);
    calls.push(`end ${name}`);
  };
  await sendByPartition({ sendBatch: sendBatch as never }, [...outgoing('out', 8), ...outgoing('dlq', 2)], async () => partitionMetadata, 1_000_000, async (topicData) => {
    calls.push(`add ${topicData.map((t) => t.partitions.map((p) => `${t.topic}/${p.partition}`).join(' ')).join(' ')}`);
    return addedAhead;
  });
  return calls;
}

/** Each send's start and end, one send after the other, in this order. */
function inTurn(partitions: string[]): string[] {
  return partitions.flatMap((p) => [`start ${p}`, `end ${p}`]);
}

describe('sending by partition (kafkajs 2.2.4 retries across brokers)', () => {
  it('kafkajs drops the records of a partition whose new leader already answered, and says they were sent', async () => {
    const cluster = brokerDies(place(TOPIC, 0), place(TOPIC, 1));
    await kafkajsSend(cluster)({ acks: -1, topicMessages: [{ topic: TOPIC, messages: [...records(0, 13, 0), ...records(1, 12, 1)] }] });
    assert.deepEqual(cluster.log(TOPIC, 1), values(1, 12));
    assert.deepEqual(cluster.log(TOPIC, 0), [], 'the 13 records of partition 0 were never sent, and the send resolved');
  });

  it('kafkajs sends a broker its records twice, under new sequence numbers, when another broker failed while they were in flight', async () => {
    const cluster = oneFailsWhileTheOtherWrites(place(TOPIC, 0), place(TOPIC, 1));
    await kafkajsSend(cluster)({ acks: -1, topicMessages: [{ topic: TOPIC, messages: [...records(0, 2, 0), ...records(1, 3, 1)] }] });
    assert.deepEqual(cluster.log(TOPIC, 0), values(0, 2));
    assert.deepEqual(cluster.log(TOPIC, 1), [...values(1, 3), ...values(1, 3)], 'partition 1 written twice');
  });

  it('one send per partition (the generator): every record once when a leader dies', async () => {
    const cluster = brokerDies(place(TOPIC, 0), place(TOPIC, 1));
    await sendPerPartition(cluster, [...records(0, 13, 0), ...records(1, 12, 1)]);
    assert.deepEqual(cluster.log(TOPIC, 0), values(0, 13));
    assert.deepEqual(cluster.log(TOPIC, 1), values(1, 12));
  });

  it('one send per partition: every record once when one broker fails while another writes', async () => {
    const cluster = oneFailsWhileTheOtherWrites(place(TOPIC, 0), place(TOPIC, 1));
    await sendPerPartition(cluster, [...records(0, 2, 0), ...records(1, 3, 1)]);
    assert.deepEqual(cluster.log(TOPIC, 0), values(0, 2));
    assert.deepEqual(cluster.log(TOPIC, 1), values(1, 3));
  });

  for (const [addedAhead, how] of [[false, 'one after the other'], [true, 'to their brokers at once']] as const) {
    it(`a lane's chunk keeps its dead letters when the DLQ's leader dies and the logins' broker takes the DLQ over, its partitions sent ${how}`, async () => {
      const cluster = brokerDies(place('dlq', 0), place('out', 0));
      await publishChunk(cluster, 97, 3, addedAhead);
      assert.deepEqual(cluster.log('out'), values('out', 97));
      assert.deepEqual(cluster.log('dlq'), values('dlq', 3));
    });

    it(`a lane's chunk sends its dead letters once when the logins' part fails while they are in flight, its partitions sent ${how}`, async () => {
      const cluster = oneFailsWhileTheOtherWrites(place('out', 0), place('dlq', 0));
      await publishChunk(cluster, 97, 3, addedAhead);
      assert.deepEqual(cluster.log('out'), values('out', 97));
      assert.deepEqual(cluster.log('dlq'), values('dlq', 3));
    });
  }

  it("adds every partition of a lane's chunk in one request, then sends to each broker at once, and to one broker in turn", async () => {
    const calls = await sendOrder(true, [1, 2, 3, 1]);
    assert.equal(calls[0], 'add out/0 out/1 out/2 out/3 dlq/0 dlq/1');
    assert.deepEqual(calls.slice(1, 4), ['start out/0', 'start out/1', 'start out/2'], "every broker's first send starts before any ends");
    const ofBroker = (partitions: string[]) => calls.filter((c) => partitions.some((p) => c === `start ${p}` || c === `end ${p}`));
    assert.deepEqual(ofBroker(['out/0', 'out/3', 'dlq/0']), inTurn(['out/0', 'out/3', 'dlq/0']), 'broker 1 takes its partitions one after the other');
    assert.deepEqual(ofBroker(['out/1', 'dlq/1']), inTurn(['out/1', 'dlq/1']), 'so does broker 2');
    assert.equal(calls.length, 1 + 2 * 6);
  });

  it("sends a chunk's partitions in turn when one broker leads them all", async () => {
    assert.deepEqual(await sendOrder(true, [1, 1, 1, 1]), ['add out/0 out/1 out/2 out/3 dlq/0 dlq/1', ...inTurn(['out/0', 'out/1', 'out/2', 'out/3', 'dlq/0', 'dlq/1'])]);
  });

  it("sends a chunk's partitions in turn when they could not be added ahead, whatever their brokers", async () => {
    assert.deepEqual(await sendOrder(false, [1, 2, 3, 1]), ['add out/0 out/1 out/2 out/3 dlq/0 dlq/1', ...inTurn(['out/0', 'out/1', 'out/2', 'out/3', 'dlq/0', 'dlq/1'])]);
  });

  it('groups records by topic and partition, keeping their order, with the partition set on each message', async () => {
    const partitionMetadata: PartitionMetadata[] = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
    const items = [
      { topic: 'a', message: { key: 'k1', value: '1' } },
      { topic: 'b', message: { partition: 2, value: '2' } },
      { topic: 'a', message: { key: 'k1', value: '3' } },
      { topic: 'b', message: { partition: 0, value: '4' } },
      { topic: 'b', message: { partition: 2, value: '5' } },
    ];
    const groups = await byPartition(items, async () => partitionMetadata);
    const k1 = FastJavaCompatiblePartitioner()({ topic: 'a', partitionMetadata, message: { key: 'k1', value: '' } });
    assert.deepEqual(
      groups.map((g) => [g.topic, g.partition, g.items.map((i) => [i.message.value, i.message.partition])]),
      [
        ['a', k1, [['1', k1], ['3', k1]]],
        ['b', 2, [['2', 2], ['5', 2]]],
        ['b', 0, [['4', 0]]],
      ],
    );
    assert.deepEqual(groups.map((g) => g.leader), [1, 1, 1], "each partition's leader, from the same metadata");
    await assert.rejects(byPartition([{ topic: 'gone', message: { value: 'x' } }], async () => []), /no partitions of topic gone/);
  });

  it('settles every partition before it reports a failure', async () => {
    let slowDone = false;
    const sends = [0, 1].map((partition) => ({ topic: TOPIC, partition, items: [] }));
    await assert.rejects(
      settleEach(sends, async ({ partition }) => {
        if (partition === 0) throw new Error('partition 0 failed');
        await sleep(50);
        slowDone = true;
      }),
      /partition 0 failed/,
    );
    assert.ok(slowDone, 'the failure came out only after the other send had settled');
  });
});

describe('adding offsets to a transaction', () => {
  const offsets = { consumerGroupId: 'lane', topics: [{ topic: 'anchor', partitions: [{ partition: 0, offset: '9' }] }] };

  it('waits while the previous transaction is being decided, and adds them once', async () => {
    const answers = [concurrentTransactions(), concurrentTransactions(), undefined];
    let calls = 0;
    const sendOffsets = async () => {
      const answer = answers[calls++];
      if (answer) throw answer;
    };
    await sendOffsetsOnceDecided({ sendOffsets }, offsets);
    assert.equal(calls, 3);
  });

  it('fails at once on any other error', async () => {
    let calls = 0;
    const sendOffsets = async () => {
      calls++;
      throw connectionError();
    };
    await assert.rejects(sendOffsetsOnceDecided({ sendOffsets }, offsets), /ECONNREFUSED/);
    assert.equal(calls, 1);
  });
});
