import { ConfigResourceTypes, Partitioners, type Kafka, type Message } from 'kafkajs';
import { TopicFollower } from '../../src/clients/topic-follower';
import { createKafka } from '../../src/clients/kafka';
import { byPartition, fetchPartitions, settleEach } from '../../src/clients/partitioned-send';
import { replicationFor, waitForLeaders } from '../../src/clients/topics';
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

/**
 * Creates topics replicated as the product's own (src/clients/topics.ts replicationFor): on the
 * cluster profile three copies with min.insync.replicas 2, whatever the brokers' defaults.
 */
export async function createTopics(kafka: Kafka, topics: string[], numPartitions = 1, configEntries: { name: string; value: string }[] = []): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { replicationFactor, minInsyncReplicas } = replicationFor((await admin.describeCluster()).brokers.length);
    const entries = [{ name: 'min.insync.replicas', value: String(minInsyncReplicas) }, ...configEntries];
    await admin.createTopics({ waitForLeaders: false, topics: topics.map((topic) => ({ topic, numPartitions, replicationFactor, configEntries: entries })) });
    await waitForLeaders(admin, topics);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Sends in requests of at most `chunk` records and about 700 KB, under the broker's 1 MB limit:
 * one partition's records per send (src/clients/partitioned-send.ts: kafkajs's retry of a send
 * across brokers can drop records while a leader moves), from an idempotent producer.
 */
export async function produce(kafka: Kafka, topic: string, messages: Message[], chunk = 500): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1, retry: { retries: 8 } });
  await producer.connect();
  try {
    const partitions = await fetchPartitions(kafka, topic);
    const sends = await byPartition(
      messages.map((message) => ({ topic, message })),
      async () => partitions,
      Partitioners.DefaultPartitioner(),
    );
    await settleEach(sends, async ({ items }) => {
      let batch: Message[] = [];
      let bytes = 0;
      for (const { message: m } of items) {
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
    });
  } finally {
    await producer.disconnect();
  }
}

/**
 * Reads topics from the beginning into memory, in the background, until closed: as a
 * read_committed reader, each offset once (the product's TopicFollower, not a kafkajs consumer).
 */
export class TopicReader {
  readonly messages: ReadMessage[] = [];
  private follower: TopicFollower | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly topics: string[],
  ) {}

  async start(): Promise<this> {
    this.follower = await new TopicFollower(this.kafka, this.topics, (topic, records) => {
      for (const r of records) {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(r.headers ?? {})) headers[k] = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
        this.messages.push({ topic, partition: r.partition, offset: r.offset, key: r.key, value: r.value, headers, timestamp: Number(r.timestamp) });
      }
    }, { fromBeginning: true }).start();
    return this;
  }

  of(topic: string): ReadMessage[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  async close(): Promise<void> {
    await this.follower?.stop();
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

/** Sets a topic's max.message.bytes (a DLQ made too small for a test, then raised). */
export async function setMaxMessageBytes(kafka: Kafka, topic: string, bytes: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'max.message.bytes', value: String(bytes) }] }] });
  } finally {
    await admin.disconnect();
  }
}
