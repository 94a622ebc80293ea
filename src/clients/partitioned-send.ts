/**
 * Producing with kafkajs so that a retry can neither drop nor repeat records: one kafkajs send
 * per topic-partition.
 *
 * kafkajs 2.2.4's send (src/producer/sendMessages.js) splits a send's records by partition
 * leader, one produce request per broker, and on a retry sends again only to the brokers that
 * have not answered yet, keeping their answers in a map keyed by broker. With partitions on two
 * brokers that goes wrong both ways:
 *
 * - **records dropped**: broker A (leader of p0) fails, broker B (leader of p1) answers; the retry
 *   refreshes the metadata, finds p0 now led by B, and skips B because B has answered, so p0's
 *   records are never sent and the send resolves as if they were. On a broker's death this lost
 *   a transaction's dead letters (their logins on the other broker committed without them) and
 *   13 of the generator's acknowledged records.
 * - **records repeated**: A fails (for a transaction, AddPartitionsToTxn answered
 *   CONCURRENT_TRANSACTIONS) while the request to B is still in flight; the retry, 25 ms later,
 *   sends B's records again, with the next sequence numbers, so idempotence cannot drop them, and
 *   both copies commit in the same transaction.
 *
 * A send whose records all go to one partition involves one broker at a time: a retry after a
 * failure sends them again (to the partition's leader now), with the sequence numbers kafkajs
 * rolled back, and the broker drops what it already has. So records get their partition here
 * (the producer's partitioner, set on the message), and each partition's go in sends of their
 * own; a caller that retries after a failure retries only the partitions that failed.
 */
import type { ICustomPartitioner, Kafka, Message, PartitionMetadata } from 'kafkajs';
import { PipelineError } from '../errors';
import { FastJavaCompatiblePartitioner } from './partitioner';

/** Records of one topic-partition. */
export interface PartitionSend<T> {
  topic: string;
  partition: number;
  /** The partition's leader as the metadata had it (-1: not known); kafkajs finds it again for each send. */
  leader: number;
  items: T[];
}

/** The partitions of a topic, as kafkajs's metadata describes them. */
export type PartitionsOf = (topic: string) => Promise<PartitionMetadata[]>;

/**
 * Gives each record its partition (the one it names, or the partitioner's choice for its key)
 * and groups the records by topic-partition, in the order of their first record; within a
 * partition the records keep their order. Each message gets its `partition` set (in place), so
 * that kafkajs's partitioner keeps it.
 */
export async function byPartition<T extends { topic: string; message: Message }>(
  items: readonly T[],
  partitionsOf: PartitionsOf,
  partitioner: ReturnType<ICustomPartitioner> = FastJavaCompatiblePartitioner(),
): Promise<PartitionSend<T>[]> {
  const metadata = new Map<string, PartitionMetadata[]>();
  const groups = new Map<string, PartitionSend<T>>();
  for (const item of items) {
    const { topic, message } = item;
    let partitionMetadata = metadata.get(topic);
    if (!partitionMetadata) {
      partitionMetadata = await partitionsOf(topic);
      if (partitionMetadata.length === 0) throw new PipelineError(`Kafka's metadata has no partitions of topic ${topic} (yet); the send is tried again.`, { retriable: true });
      metadata.set(topic, partitionMetadata);
    }
    const partition = partitioner({ topic, partitionMetadata, message });
    const key = `${topic}\u0000${partition}`;
    let group = groups.get(key);
    if (!group) {
      group = { topic, partition, leader: partitionMetadata.find((p) => p.partitionId === partition)?.leader ?? -1, items: [] };
      groups.set(key, group);
    }
    // Set on the caller's message, not a copy: this runs for every record published.
    message.partition = partition;
    group.items.push(item);
  }
  return [...groups.values()];
}

/**
 * Runs `sendOne` for each of `sends` (a partition's records, or a broker's partitions), all at
 * once, and returns only once every send has settled, so that a caller that retries, or aborts a
 * transaction, never does so with a request of the earlier try still in flight. Throws the first
 * failure.
 */
export async function settleEach<S>(sends: readonly S[], sendOne: (send: S) => Promise<unknown>): Promise<void> {
  const results = await Promise.allSettled(sends.map((send) => sendOne(send)));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

/** A topic's partitions as the cluster's metadata has them now, for a producer of a topic whose partitions do not change while it runs. */
export async function fetchPartitions(kafka: Kafka, topic: string): Promise<PartitionMetadata[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    return topics[0]?.partitions ?? [];
  } finally {
    await admin.disconnect();
  }
}
