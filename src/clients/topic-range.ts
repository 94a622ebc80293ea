/**
 * Reading a bounded stretch of a topic, for the operator commands (`npm run dlq`, `npm run
 * reconcile`) and the replay's plan: per partition, from an offset (found by timestamp, or given)
 * up to the partition's last stable offset as it was when the read began, so that a read ends
 * while the pipeline keeps writing and never waits on a transaction still open.
 *
 * It reads with the worker's RangeReader: as a read_committed consumer sees the topic (records of
 * aborted transactions never, whatever kafkajs's own consumer lets through), without a consumer
 * group to join, commit to or leave behind.
 */
import type { Admin, IHeaders } from 'kafkajs';
import { PipelineError } from '../errors';
import type { RangeReader } from './range-reader';

/** Records handed to the caller at a time, by their key and value bytes. */
const CHUNK_BYTES = 1024 * 1024;

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

/** A topic the command was pointed at does not exist: nothing to read, and nothing is created. */
export class TopicNotFoundError extends PipelineError {
  override name = 'TopicNotFoundError';
  constructor(readonly topic: string) {
    super(`Topic ${topic} does not exist on this Kafka cluster.`);
  }
}

/**
 * Every partition of `topic`, from the first offset whose timestamp is at or after `fromMs` (the
 * partition's start without it, or when `fromMs` is older than the partition's first record) to
 * its last stable offset now.
 */
export async function rangesFrom(reader: RangeReader, admin: Admin, topic: string, fromMs?: number): Promise<PartitionRange[]> {
  await requireTopic(admin, topic);
  const [firsts, ends] = await Promise.all([reader.offsets(topic, 'earliest'), reader.offsets(topic, 'stable')]);
  const byTime = fromMs === undefined ? [] : await admin.fetchTopicOffsetsByTimestamp(topic, Math.max(0, Math.floor(fromMs)));
  return [...ends]
    .map(([partition, end]) => {
      const low = firsts.get(partition) ?? end;
      const found = byTime.find((p) => p.partition === partition)?.offset;
      const start = found === undefined || BigInt(found) < low ? low : BigInt(found);
      return { partition, start: String(start > end ? end : start), end: String(end) };
    })
    .sort((a, b) => a.partition - b.partition);
}

export async function requireTopic(admin: Admin, topic: string): Promise<void> {
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) throw new TopicNotFoundError(topic);
}

/**
 * Reads the ranges of `topic`, handing its records to `onRecords` a chunk at a time (partition by
 * partition, in offset order). Offsets that retention deleted meanwhile are left out.
 */
export async function readRanges(reader: RangeReader, topic: string, ranges: PartitionRange[], onRecords: (records: TopicRecord[]) => void): Promise<void> {
  const wanted = ranges.filter((r) => BigInt(r.start) < BigInt(r.end)).map((r) => ({ partition: r.partition, from: r.start, to: r.end }));
  for await (const chunk of reader.read(topic, wanted, { chunkBytes: CHUNK_BYTES })) {
    const records = chunk
      .filter((r) => !r.deleted)
      .map((r) => ({ partition: r.partition, offset: r.offset, timestamp: Number(r.timestamp), key: r.key, value: r.value, headers: r.headers ?? {} }));
    if (records.length > 0) onRecords(records);
  }
}

/** The record at `partition`:`offset`, or undefined when there is none (a transaction marker, or an aborted record). */
export async function readRecordAt(reader: RangeReader, admin: Admin, topic: string, partition: number, offset: string): Promise<TopicRecord | undefined> {
  const bounds = await rangesFrom(reader, admin, topic);
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
  await readRanges(reader, topic, [{ partition, start: offset, end: String(BigInt(offset) + 1n) }], (records) => {
    found ??= records.find((r) => r.offset === offset);
  });
  return found;
}
