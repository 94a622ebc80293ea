/**
 * Reading a bounded stretch of a topic, for the operator commands (`npm run dlq`, `npm run
 * reconcile`): per partition, from an offset (found by timestamp, or given) up to the partition's
 * end as it was when the read began, so that a read ends while the pipeline keeps writing.
 *
 * Nothing is committed: the consumer's group is a throwaway one (autoCommit off), deleted at the
 * end. It reads with isolation read_committed (kafkajs's default), as the contract asks of every
 * consumer of the outputs: records of an aborted transaction are never seen, and a read waits for
 * an open transaction below its end offset to be decided. The end offsets are high watermarks
 * (kafkajs's admin lists offsets read_uncommitted); a partition is done when the consumer's
 * position passes its end, transaction markers included.
 */
import { randomBytes } from 'node:crypto';
import type { Admin, IHeaders, Kafka } from 'kafkajs';
import { PipelineError } from '../errors';

export interface TopicRecord {
  partition: number;
  /** A decimal string: Kafka offsets are 64-bit. */
  offset: string;
  /** The Kafka timestamp, epoch milliseconds. */
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

/** The offsets [start, end) of one partition. */
export interface PartitionRange {
  partition: number;
  start: string;
  end: string;
}

export interface ReadRangesOptions {
  /**
   * Fail when no partition advances for this long (default 120 s): a broker that stopped
   * answering, or a transaction left open (a read_committed reader waits until it is decided).
   */
  idleTimeoutMs?: number;
  /** Names the throwaway consumer group (`<label>-<random>`), so that it is recognisable. */
  label?: string;
}

/** A topic the command was pointed at does not exist: nothing to read, and nothing is created. */
export class TopicNotFoundError extends PipelineError {
  override name = 'TopicNotFoundError';
  constructor(readonly topic: string) {
    super(`Topic ${topic} does not exist on this Kafka cluster.`);
  }
}

export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/**
 * Every partition of `topic`, from the first offset whose timestamp is at or after `fromMs` (the
 * partition's start without it, or when `fromMs` is older than the partition's first record) to
 * its current end.
 */
export async function rangesFrom(admin: Admin, topic: string, fromMs?: number): Promise<PartitionRange[]> {
  await requireTopic(admin, topic);
  const ends = await admin.fetchTopicOffsets(topic);
  const byTime = fromMs === undefined ? [] : await admin.fetchTopicOffsetsByTimestamp(topic, Math.max(0, Math.floor(fromMs)));
  return ends
    .map(({ partition, low, high }) => {
      const found = byTime.find((p) => p.partition === partition)?.offset;
      const start = found === undefined || BigInt(found) < BigInt(low) ? low : found;
      return { partition, start: BigInt(start) > BigInt(high) ? high : start, end: high };
    })
    .sort((a, b) => a.partition - b.partition);
}

export async function requireTopic(admin: Admin, topic: string): Promise<void> {
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) throw new TopicNotFoundError(topic);
}

/**
 * Reads the ranges of `topic`, handing each fetched batch's records within them to `onRecords`
 * (partition by partition in offset order; partitions interleave). Resolves once every range is
 * read. Partitions without a range, or with an empty one, are not read at all.
 */
export async function readRanges(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  ranges: PartitionRange[],
  onRecords: (records: TopicRecord[]) => void,
  options: ReadRangesOptions = {},
): Promise<void> {
  const wanted = new Map(ranges.filter((r) => BigInt(r.start) < BigInt(r.end)).map((r) => [r.partition, { start: BigInt(r.start), end: BigInt(r.end) }]));
  if (wanted.size === 0) return;
  const pending = new Set(wanted.keys());
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const groupId = `${options.label ?? 'lp-read'}-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
  const positions = new Map<number, bigint>();

  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const finished = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdleTimer = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      const where = [...pending].map((p) => `partition ${p} at ${positions.get(p) ?? wanted.get(p)!.start} of ${wanted.get(p)!.end}`).join(', ');
      settle.reject(
        new PipelineError(
          `Reading ${topic} made no progress for ${Math.round(idleTimeoutMs / 1000)} s (${where}): a broker does not answer, or a transaction below the end is still open.`,
          { retriable: true },
        ),
      );
    }, idleTimeoutMs);
  };
  /** Called after each fetched batch, also one of transaction markers only: the position moves on. */
  const advance = (partition: number, lastOffset: string) => {
    const range = wanted.get(partition);
    if (!range || !pending.has(partition)) return;
    const position = BigInt(lastOffset) + 1n;
    if (position > (positions.get(partition) ?? range.start)) {
      positions.set(partition, position);
      armIdleTimer();
    }
    if (position >= range.end) {
      pending.delete(partition);
      consumer.pause([{ topic, partitions: [partition] }]);
      if (pending.size === 0) settle.resolve();
    }
  };

  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.topic === topic) advance(payload.partition, payload.lastOffset);
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) settle.reject(payload.error);
  });
  try {
    armIdleTimer();
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = wanted.get(batch.partition);
        if (!range) return;
        const records: TopicRecord[] = [];
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset < range.start || offset >= range.end) continue;
          records.push({ partition: batch.partition, offset: m.offset, timestamp: Number(m.timestamp), key: m.key, value: m.value, headers: m.headers ?? {} });
        }
        if (records.length === 0) return;
        try {
          onRecords(records);
        } catch (err) {
          // A bug of the caller: stop the read with it rather than have kafkajs retry the batch.
          settle.reject(err);
        }
      },
    });
    // Seeks wait for the group's assignment; partitions outside the ranges are never fetched.
    for (const [partition, range] of wanted) consumer.seek({ topic, partition, offset: String(range.start) });
    const others = ranges.map((r) => r.partition).filter((p) => !wanted.has(p));
    if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
    await finished;
  } finally {
    clearTimeout(idleTimer);
    await consumer.disconnect().catch(() => undefined);
    // The group committed nothing; Kafka would drop it on its own, this only tidies up sooner.
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
}

/** The record at `partition`:`offset`, or undefined when there is none (a transaction marker, or an aborted record). */
export async function readRecordAt(kafka: Kafka, admin: Admin, topic: string, partition: number, offset: string, options: ReadRangesOptions = {}): Promise<TopicRecord | undefined> {
  const bounds = await rangesFrom(admin, topic);
  const range = bounds.find((b) => b.partition === partition);
  if (!range) throw new PipelineError(`${topic} has no partition ${partition}; its partitions are ${bounds.map((b) => b.partition).join(', ')}.`);
  if (BigInt(offset) < BigInt(range.start) || BigInt(offset) >= BigInt(range.end)) {
    throw new PipelineError(
      BigInt(range.start) >= BigInt(range.end)
        ? `${topic} partition ${partition} holds no records now (offsets ${range.start} to ${range.end}).`
        : `${topic} partition ${partition} holds offsets ${range.start} to ${BigInt(range.end) - 1n}; ${offset} is not among them${BigInt(offset) < BigInt(range.start) ? ' (deleted by retention)' : ''}.`,
    );
  }
  let found: TopicRecord | undefined;
  const only = bounds.map((b) => (b.partition === partition ? { partition, start: offset, end: String(BigInt(offset) + 1n) } : { ...b, start: b.end }));
  await readRanges(kafka, admin, topic, only, (records) => {
    found ??= records.find((r) => r.offset === offset);
  }, options);
  return found;
}
