/**
 * Publishing exactly once per lane, with Kafka transactions (docs/design.md, "Publishing once").
 *
 * Each lane has a transactional id. A lane's producer, once initialised, fences every producer of
 * that id initialised before it: their transactions are aborted and their commits fail. Each
 * publish commits, in the same transaction as the records, the lane's mark: an offset of the
 * lane's own consumer group, on partition 0 of an anchor topic, that only grows. So, after its
 * producer is initialised, an attempt reads the mark and knows for sure whether an earlier
 * attempt published its chunk: that attempt either committed before (the mark shows it) or can
 * no longer commit. Readers with isolation read_committed see each chunk once.
 */
import type { Kafka, Message, PartitionMetadata, Producer, Transaction } from 'kafkajs';
import { kafkaErrorType } from '../errors';
import type { Logger } from '../log';
import { retry } from '../process/retry';
import { ClusterConnection, type KafkajsCluster } from './kafka';
import { addPartitionsAhead, keepTransactionManager, type TopicPartitions } from './kafkajs-transaction-partitions';
import { byPartition, settleEach, type PartitionSend, type PartitionsOf } from './partitioned-send';
import { FastJavaCompatiblePartitioner } from './partitioner';
import { fetchStableOffset } from './stable-offsets';
import { explainProduceError, type RefusedRecord } from './topics';

/** A record to publish, with what an error about it needs. */
export interface Outgoing extends RefusedRecord {
  message: Message;
}

export interface LaneTransactionsOptions {
  /** How long the broker lets a transaction stay open before aborting it (a producer that died). */
  transactionTimeoutMs: number;
  /** Bytes of records per produce request, under the broker's message.max.bytes. */
  maxRequestBytes: number;
  /** A lane's producer unused this long is closed (its bridge moved on to other lanes). */
  idleMs: number;
}

interface Entry {
  producer: Producer;
  connected: Promise<void>;
  leased: boolean;
  /** Replaced while leased: closed when its lease ends. */
  discarded: boolean;
  lastUsed: number;
  /** The lane's mark as this producer last read or wrote it. */
  mark?: bigint;
}

export type PublishOutcome = 'published' | 'already-published';

export class LaneTransactions {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  /** Where marks are read: the group coordinators, through kafkajs's internal cluster. */
  private readonly connection: ClusterConnection;

  constructor(
    private readonly kafka: Kafka,
    private readonly logger: Logger,
    private readonly options: LaneTransactionsOptions,
  ) {
    this.sweeper = setInterval(() => void this.closeIdle(), Math.max(1_000, options.idleMs / 2)).unref();
    this.connection = new ClusterConnection(kafka);
  }

  private get cluster(): KafkajsCluster {
    return this.connection.cluster;
  }

  /** Connects and learns the topics' partitions now, so that the first publish does not wait for it. */
  async prepare(topics: readonly string[]): Promise<void> {
    for (const topic of topics) await this.partitionsOf(topic);
  }

  /**
   * The lane's producer, for this caller alone until release(). An attempt of the same lane still
   * holding it here (one that timed out and was retried) gets fenced: the caller gets a new
   * producer, whose initialisation aborts the other's transaction.
   */
  lease(laneId: string): LaneLease {
    let entry = this.entries.get(laneId);
    if (entry?.leased) {
      entry.discarded = true;
      entry = undefined;
    }
    if (!entry) {
      entry = this.newEntry(laneId);
      this.entries.set(laneId, entry);
    }
    entry.leased = true;
    return new LaneLease(this, laneId, entry);
  }

  /** Publishes `messages` and moves the lane's mark to `target` in one transaction, unless the mark is there already. */
  async publishOnce(laneId: string, entry: Entry, anchorTopic: string, target: bigint, messages: Outgoing[]): Promise<PublishOutcome> {
    await this.connected(laneId, entry);
    // The first transaction() of a producer initialises it with the lane's id: the fence.
    const txn = await entry.producer.transaction();
    try {
      entry.mark ??= await this.readMark(laneId, anchorTopic);
      if (entry.mark >= target) {
        await txn.abort();
        return 'already-published';
      }
      const addAhead = (topicData: TopicPartitions) => addPartitionsRetried(entry.producer, topicData);
      await sendByPartition(txn, messages, (topic) => this.partitionsOf(topic), this.options.maxRequestBytes, addAhead);
      await sendOffsetsOnceDecided(txn, { consumerGroupId: laneId, topics: [{ topic: anchorTopic, partitions: [{ partition: 0, offset: String(target) }] }] });
      await txn.commit();
      entry.mark = target;
      return 'published';
    } catch (err) {
      // Fenced, or the broker is away: this producer's state is unknown; the next attempt starts afresh.
      if (txn.isActive()) await txn.abort().catch(() => undefined);
      this.discard(laneId, entry);
      throw err;
    }
  }

  /**
   * Resolves once the entry's producer holds the lane's transactional id: its InitProducerId has
   * fenced every producer of the lane initialised before it, and waited for their transactions to
   * be decided. kafkajs's connect() does not do that (it asks for a plain idempotent producer id);
   * its first transaction() does, so this begins one and aborts it, which an empty transaction
   * does without a request. A producer that could not be initialised is dropped, so that the next
   * lease makes a new one rather than failing on it until it idles out.
   */
  async ready(laneId: string, entry: Entry): Promise<void> {
    try {
      await entry.connected;
      const txn = await entry.producer.transaction();
      await txn.abort();
    } catch (err) {
      this.discard(laneId, entry);
      throw err;
    }
  }

  /** The producer's connection; a producer that could not connect is dropped (see ready()). */
  private async connected(laneId: string, entry: Entry): Promise<void> {
    try {
      await entry.connected;
    } catch (err) {
      this.discard(laneId, entry);
      throw err;
    }
  }

  /** The lane is published from elsewhere now: its producer here is closed (once its lease ends). */
  forget(laneId: string): void {
    const entry = this.entries.get(laneId);
    if (entry) this.discard(laneId, entry);
  }

  release(laneId: string, entry: Entry): void {
    entry.leased = false;
    entry.lastUsed = Date.now();
    if (entry.discarded) this.discard(laneId, entry);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled([...entries.map((e) => e.producer.disconnect()), this.connection.close()]);
  }

  /**
   * The lane's mark: -1 before its first publish. Read stable (src/clients/stable-offsets.ts): a
   * mark committed by a transaction that has just completed is counted, not the one before it.
   */
  private async readMark(laneId: string, anchorTopic: string): Promise<bigint> {
    await this.connection.connect();
    return fetchStableOffset(this.cluster, laneId, anchorTopic, 0);
  }

  /** A topic's partitions, from metadata refreshed when the topic is new to it or has none. */
  private async partitionsOf(topic: string): Promise<PartitionMetadata[]> {
    await this.connection.connect();
    await this.cluster.addTargetTopic(topic);
    let partitions = this.cluster.findTopicPartitionMetadata(topic);
    if (partitions.length === 0) {
      await this.cluster.refreshMetadata();
      partitions = this.cluster.findTopicPartitionMetadata(topic);
    }
    return partitions;
  }

  private newEntry(laneId: string): Entry {
    const producer = keepTransactionManager(this.kafka.producer({
      transactionalId: laneId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.options.transactionTimeoutMs,
      allowAutoTopicCreation: false,
      createPartitioner: FastJavaCompatiblePartitioner,
      // A send that cannot get through fails the attempt, which Temporal retries with backoff.
      retry: { retries: 10, initialRetryTime: 25, maxRetryTime: 5_000 },
    }));
    const connected = producer.connect();
    connected.catch(() => undefined);
    return { producer, connected, leased: false, discarded: false, lastUsed: Date.now() };
  }

  private discard(laneId: string, entry: Entry): void {
    if (this.entries.get(laneId) === entry) this.entries.delete(laneId);
    if (entry.leased) {
      entry.discarded = true;
      return;
    }
    entry.producer.disconnect().catch((err: unknown) => this.logger.debug({ err, laneId }, 'Closing a lane producer failed'));
  }

  private async closeIdle(): Promise<void> {
    const now = Date.now();
    for (const [laneId, entry] of this.entries) {
      if (!entry.leased && now - entry.lastUsed > this.options.idleMs) this.discard(laneId, entry);
    }
  }
}

/** One caller's hold on a lane's producer. */
export class LaneLease {
  constructor(
    private readonly pool: LaneTransactions,
    readonly laneId: string,
    private readonly entry: Entry,
  ) {}

  publishOnce(anchorTopic: string, target: bigint, messages: Outgoing[]): Promise<PublishOutcome> {
    return this.pool.publishOnce(this.laneId, this.entry, anchorTopic, target, messages);
  }

  /**
   * Resolves once this lease's producer holds the lane's transactional id. From then on no
   * producer of the lane initialised earlier can commit, and every transaction they had open is
   * decided: what the lane has committed can be read back, and nothing else of theirs will appear
   * (the replay of dead letters reads its log after this). A producer reused from an earlier lease
   * was initialised then: whoever initialised one since has fenced it, and its commits fail.
   */
  ready(): Promise<void> {
    return this.pool.ready(this.laneId, this.entry);
  }

  release(): void {
    this.pool.release(this.laneId, this.entry);
  }
}

/** Retries of a transaction's first request while the previous transaction is decided: about 10 s at 10 ms doubling to 200. */
const PREVIOUS_TRANSACTION_RETRIES = { retries: 50, initialMs: 10, maxMs: 200 };

const isConcurrentTransactions = (err: unknown) => kafkaErrorType(err) === 'CONCURRENT_TRANSACTIONS';

/**
 * Adds offsets to a transaction, waiting for the producer's previous transaction to be decided.
 * A commit returns once the coordinator has logged it, and the coordinator then writes its
 * markers; a request of the next transaction before that is answered CONCURRENT_TRANSACTIONS,
 * which the broker expects clients to retry (the Java client does). kafkajs retries it for the
 * AddPartitionsToTxn of its sends but not for sendOffsets' AddOffsetsToTxn, which comes first in a
 * transaction without records. Retried here, in place: the producer and its transaction are fine.
 */
export function sendOffsetsOnceDecided(txn: Pick<Transaction, 'sendOffsets'>, offsets: Parameters<Transaction['sendOffsets']>[0]): Promise<void> {
  return retry(() => txn.sendOffsets(offsets), { ...PREVIOUS_TRANSACTION_RETRIES, retriable: isConcurrentTransactions });
}

/**
 * Adds a transaction's partitions ahead of its sends (src/clients/kafkajs-transaction-partitions.ts),
 * retried in place as kafkajs retries the AddPartitionsToTxn of a send: while the previous
 * transaction is decided (as above), and on the errors kafkajs marks retriable (the coordinator
 * moved or is loading, a connection dropped). Adding a partition twice is harmless.
 */
function addPartitionsRetried(producer: Producer, topicData: TopicPartitions): Promise<boolean> {
  return retry(() => addPartitionsAhead(producer, topicData), {
    ...PREVIOUS_TRANSACTION_RETRIES,
    retriable: (err) => isConcurrentTransactions(err) || (err as { retriable?: unknown } | null)?.retriable === true,
  });
}

/**
 * Sends a transaction's records one topic-partition per send (src/clients/partitioned-send.ts:
 * kafkajs's retry of a send across brokers drops or repeats records), in requests of at most
 * `maxRequestBytes` (a larger record alone), each partition's in order. `addAhead` first adds
 * every partition to the transaction in one request (src/clients/kafkajs-transaction-partitions.ts);
 * then the sends to different brokers go at once, so that on a cluster the partitions' leaders
 * write and replicate them at the same time rather than one partition's after the other's (each
 * send waits for acks=all). A broker's own take one after the other, as before: a producer has one
 * request in flight per broker. Without `addAhead`, or when it could not, each partition's first
 * send adds it, so every send waits for the one before: two AddPartitionsToTxn at once make the
 * coordinator answer one with CONCURRENT_TRANSACTIONS. Either way every send has settled before
 * this returns or throws, so that the transaction never commits or aborts with one in flight.
 */
export async function sendByPartition(
  txn: Pick<Transaction, 'sendBatch'>,
  messages: Outgoing[],
  partitionsOf: PartitionsOf,
  maxRequestBytes: number,
  addAhead?: (topicData: TopicPartitions) => Promise<boolean>,
): Promise<void> {
  const sends = await byPartition(messages, partitionsOf);
  const sendInTurn = async (partitions: PartitionSend<Outgoing>[]) => {
    for (const { topic, items } of partitions) {
      for (const request of requestsBySize(items, maxRequestBytes)) {
        try {
          await txn.sendBatch({ acks: -1, topicMessages: [{ topic, messages: request.map((o) => o.message) }] });
        } catch (err) {
          throw explainProduceError(err, request.reduce((a, b) => (b.size > a.size ? b : a)));
        }
      }
    }
  };
  const added = addAhead !== undefined && sends.length > 0 && (await addAhead(sends.map(({ topic, partition }) => ({ topic, partitions: [{ partition }] }))));
  if (!added) return sendInTurn(sends);
  await settleEach(byLeader(sends), sendInTurn);
}

/**
 * The sends grouped by their partition's leader as the metadata had it: only a schedule, since
 * kafkajs finds each send's leader again (after a leader moved, two groups may share a broker,
 * and their requests then wait for each other there).
 */
function byLeader<T>(sends: PartitionSend<T>[]): PartitionSend<T>[][] {
  const groups = new Map<number, PartitionSend<T>[]>();
  for (const send of sends) {
    const group = groups.get(send.leader);
    if (group) group.push(send);
    else groups.set(send.leader, [send]);
  }
  return [...groups.values()];
}

/** Produce requests of at most `maxBytes` each (a larger record alone), in order. */
function* requestsBySize<T extends { size: number }>(items: T[], maxBytes: number): Generator<T[]> {
  let request: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (request.length > 0 && bytes + item.size > maxBytes) {
      yield request;
      request = [];
      bytes = 0;
    }
    request.push(item);
    bytes += item.size;
  }
  if (request.length > 0) yield request;
}
