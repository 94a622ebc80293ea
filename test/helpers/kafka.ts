import { randomBytes } from 'node:crypto';
import { Partitioners, type Consumer, type Kafka, type Message } from 'kafkajs';
import { createKafka } from '../../src/clients/kafka';
import { waitForLeaders } from '../../src/clients/topics';
import { retry } from '../../src/process/retry';
import type { Config } from '../../src/config';

export interface ReadMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: number;
}

export function testKafka(config: Config): Kafka {
  return createKafka(config.kafka, { clientId: 'test' });
}

export async function createTopics(kafka: Kafka, topics: string[], numPartitions = 1, configEntries: { name: string; value: string }[] = []): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: false, topics: topics.map((topic) => ({ topic, numPartitions, configEntries })) });
    await waitForLeaders(admin, topics);
  } finally {
    await admin.disconnect();
  }
}

/** Sends in requests of at most `chunk` records and about 700 KB, under the broker's 1 MB limit. */
export async function produce(kafka: Kafka, topic: string, messages: Message[], chunk = 500): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    let batch: Message[] = [];
    let bytes = 0;
    for (const m of messages) {
      const size = (m.value?.length ?? 0) + (m.key?.length ?? 0) + 64;
      if (batch.length > 0 && (batch.length >= chunk || bytes + size > 700_000)) {
        await producer.send({ topic, acks: -1, messages: batch });
        batch = [];
        bytes = 0;
      }
      batch.push(m);
      bytes += size;
    }
    if (batch.length > 0) await producer.send({ topic, acks: -1, messages: batch });
  } finally {
    await producer.disconnect();
  }
}

/**
 * Reads topics from the beginning into memory, in the background, until closed. Each record once:
 * a consumer that rejoins its group (its coordinator's broker died) starts again from the
 * beginning, as it commits nothing, and a record read again at the same offset is the same record,
 * not a duplicate output.
 */
export class TopicReader {
  readonly messages: ReadMessage[] = [];
  private readonly seen = new Set<string>();
  private consumer: Consumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly topics: string[],
  ) {}

  async start(): Promise<this> {
    this.consumer = this.kafka.consumer({ groupId: `reader-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 100 });
    await this.consumer.connect();
    // On several brokers, the one asked may not have heard of a topic just created: ask again.
    const consumer = this.consumer;
    for (const topic of this.topics) await retry(() => consumer.subscribe({ topic, fromBeginning: true }), { retries: 20, initialMs: 200, maxMs: 1_000 });
    await this.consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const at = `${topic}:${partition}:${message.offset}`;
        if (this.seen.has(at)) return;
        this.seen.add(at);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
        this.messages.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key,
          value: message.value,
          headers,
          timestamp: Number(message.timestamp),
        });
      },
    });
    return this;
  }

  of(topic: string): ReadMessage[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  async close(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

/** The high watermarks of a topic, summed over partitions. */
export async function topicSize(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}
