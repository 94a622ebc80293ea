/**
 * Reads given offset ranges of a topic, as read_committed consumers see them: aborted
 * transactions and control records left out, compacted gaps skipped. The worker reads each
 * batch's records with it (the claim-check pattern: records stay in Kafka, batches name offsets).
 *
 * Records come out in chunks of at most `chunkBytes` of key and value (a larger record alone),
 * cut over the ranges in the order given and the records in offset order: the same ranges always
 * give the same chunks, so that every attempt at a batch publishes the same chunk under the same
 * mark. Memory stays near one chunk per fetch, whatever the ranges hold.
 */
import type { IHeaders, Kafka } from 'kafkajs';
import { CancelledError, kafkaErrorType, PipelineError } from '../errors';
import type { OffsetRange } from '../domain/batch';
import type { BatchRecord } from '../domain/types';
import { retry } from '../process/retry';
import { ClusterConnection, READ_COMMITTED, type KafkajsCluster, type KafkajsPartitionData, type KafkajsRecord } from './kafka';

/** A record of a range, or the place of one Kafka deleted (retention) before it was read. */
export interface RangeRecord extends BatchRecord {
  partition: number;
  /** The record's Kafka timestamp (epoch ms, a decimal string); absent for a deleted one. */
  timestamp?: string;
  headers?: IHeaders;
  /** Set when the offset was deleted by the topic's retention before the batch read it. */
  deleted?: boolean;
}

/** Offsets of a range that the partition does not hold (yet): the batch waits and tries again. */
export class OffsetsNotReadableError extends PipelineError {
  override name = 'OffsetsNotReadableError';
  constructor(topic: string, partition: number, offset: bigint, detail: string) {
    super(`Offset ${offset} of ${topic} partition ${partition} cannot be read yet: ${detail}.`, { retriable: true });
  }
}

/** Per partition, at least this much per fetch, so that many small ranges still move along. */
const MIN_PARTITION_FETCH_BYTES = 64 * 1024;
/** What a fetch asks for beyond a range's estimated size: a record's framing, and a batch's header. */
const RECORD_FRAMING_BYTES = 16;
const RANGE_SLACK_BYTES = 8 * 1024;

export interface Cursor {
  range: Omit<OffsetRange, 'incarnation'>;
  next: bigint;
  end: bigint;
  /** Fetched, not yet handed out. */
  buffered: RangeRecord[];
}

/** What a reader reads through: a connection to the cluster (a stand-in, for a worker engine's rehearsal). */
export type ReaderConnection = Pick<ClusterConnection, 'cluster' | 'connect' | 'close'>;

export class RangeReader {
  private readonly connection: ReaderConnection;
  /** Bytes per record in each partition's last response (by `topic:partition`), for the size of what is left of a range. */
  private readonly recordBytes = new Map<string, number>();
  /** Records the broker sent, in a range or not: what the reader decoded. */
  recordsFetched = 0;

  constructor(source: Kafka | ReaderConnection) {
    this.connection = 'cluster' in source ? source : new ClusterConnection(source);
  }

  private get cluster(): KafkajsCluster {
    return this.connection.cluster;
  }

  /** Connects and learns the topic's partitions now, so that the first read does not wait for it. */
  async prepare(topic: string): Promise<void> {
    await this.connection.connect();
    await this.cluster.addTargetTopic(topic);
  }

  /** The records of `ranges`, in chunks; see the module comment. */
  async *read(topic: string, ranges: readonly Omit<OffsetRange, 'incarnation'>[], options: { chunkBytes: number; signal?: AbortSignal }): AsyncGenerator<RangeRecord[]> {
    await this.prepare(topic);
    const cursors: Cursor[] = ranges.map((range) => ({ range, next: BigInt(range.from), end: BigInt(range.to), buffered: [] }));
    let chunk: RangeRecord[] = [];
    let chunkBytes = 0;
    for (const cursor of cursors) {
      while (cursor.next < cursor.end || cursor.buffered.length > 0) {
        if (cursor.buffered.length === 0) await this.fetchRound(topic, cursor, cursors, options);
        for (const record of cursor.buffered.splice(0)) {
          const size = (record.key?.length ?? 0) + (record.value?.length ?? 0);
          if (chunk.length > 0 && chunkBytes + size > options.chunkBytes) {
            yield chunk;
            chunk = [];
            chunkBytes = 0;
          }
          chunk.push(record);
          chunkBytes += size;
        }
      }
    }
    if (chunk.length > 0) yield chunk;
  }

  /**
   * Each partition's first offset (`earliest`) or last stable offset (the end of what
   * read_committed readers may see), by partition; the topic's partitions as its metadata says.
   */
  async offsets(topic: string, which: 'earliest' | 'stable'): Promise<Map<number, bigint>> {
    await this.prepare(topic);
    const partitions = await this.partitionsOf(topic);
    const [offsets] = await this.cluster.fetchTopicsOffset([{ topic, partitions: partitions.map((partition) => ({ partition })), fromBeginning: which === 'earliest' }]);
    return new Map((offsets?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  }

  close(): Promise<void> {
    return this.connection.close();
  }

  private async partitionsOf(topic: string): Promise<number[]> {
    await this.cluster.refreshMetadata();
    return this.cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId);
  }

  /**
   * One fetch per partition leader for `current` (which needs records now) and every other range
   * that still has offsets to read and nothing buffered, retried when leadership moves. Fills the
   * cursors' buffers. A response has a size limit, and only its first partition is sure to get
   * records: `current` goes first, and another partition that got none this time is asked again
   * in a later round, not taken for one whose offsets cannot be read.
   */
  private async fetchRound(topic: string, current: Cursor, cursors: Cursor[], options: { chunkBytes: number; signal?: AbortSignal }): Promise<void> {
    await retry(
      async () => {
        if (options.signal?.aborted) throw new CancelledError('Reading the batch', options.signal.reason);
        if (current.buffered.length > 0 || current.next >= current.end) return;
        const wanted = [current, ...cursors.filter((c) => c !== current && c.buffered.length === 0 && c.next < c.end)];
        try {
          await this.fetchFromLeaders(topic, wanted, current, options.chunkBytes);
        } catch (err) {
          if (kafkaErrorType(err) === 'OFFSET_OUT_OF_RANGE') return this.skipDeleted(topic, wanted, err);
          await this.cluster.refreshMetadata().catch(() => undefined);
          throw err;
        }
      },
      { retries: 5, initialMs: 200, maxMs: 3_000, signal: options.signal, retriable: (err) => !(err instanceof CancelledError) },
    );
  }

  private async fetchFromLeaders(topic: string, cursors: Cursor[], current: Cursor, chunkBytes: number): Promise<void> {
    const byPartition = new Map(cursors.map((c) => [c.range.partition, c]));
    const asked = [...byPartition.keys()];
    const leaders = this.cluster.findLeaderForPartitions(topic, asked);
    requireLeaders(topic, asked, leaders);
    const partitionBytes = Math.max(MIN_PARTITION_FETCH_BYTES, Math.ceil(chunkBytes / Math.max(1, cursors.length)));
    await Promise.all(
      Object.entries(leaders).map(async ([nodeId, partitions]) => {
        const broker = await this.cluster.findBroker({ nodeId });
        const { responses } = await broker.fetch({
          isolationLevel: READ_COMMITTED,
          maxWaitTime: 0,
          minBytes: 1,
          maxBytes: chunkBytes,
          topics: [
            {
              topic,
              partitions: partitions.map((partition) => {
                const cursor = byPartition.get(partition)!;
                return { partition, fetchOffset: String(cursor.next), maxBytes: Math.min(partitionBytes, this.bytesLeft(topic, cursor)) };
              }),
            },
          ],
        });
        for (const data of responses.flatMap((r) => r.partitions)) {
          this.learnSizes(topic, data.partition, data.messages);
          const cursor = byPartition.get(data.partition);
          if (cursor) take(topic, cursor, data, cursor === current);
        }
      }),
    );
  }

  /**
   * About the bytes of what is left of a cursor's range, from the partition's last response: a
   * fetch asks for no more, because Kafka sends everything up to the limit and every record after
   * the range's end is decoded for nothing (it doubled the worker's decoding when ranges were
   * short). Kafka sends at least one whole record batch for the first partition of a fetch
   * whatever its limit, so an estimate that is too low costs a round, never progress.
   */
  private bytesLeft(topic: string, cursor: Cursor): number {
    const perRecord = this.recordBytes.get(`${topic}:${cursor.range.partition}`);
    if (perRecord === undefined) return Number.MAX_SAFE_INTEGER;
    return Math.ceil(Number(cursor.end - cursor.next) * (perRecord + RECORD_FRAMING_BYTES)) + RANGE_SLACK_BYTES;
  }

  private learnSizes(topic: string, partition: number, records: readonly KafkajsRecord[]): void {
    this.recordsFetched += records.length;
    if (records.length === 0) return;
    let bytes = 0;
    for (const r of records) {
      bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0);
      for (const name in r.headers) bytes += name.length + (r.headers[name]?.length ?? 0);
    }
    this.recordBytes.set(`${topic}:${partition}`, bytes / records.length);
  }

  /**
   * The partition no longer holds the cursor's offset. When retention deleted it, each deleted
   * offset of the range comes out as a `deleted` record (the batch dead-letters it, so that no
   * offset goes unaccounted) and reading goes on from the partition's first offset.
   */
  private async skipDeleted(topic: string, cursors: Cursor[], err: unknown): Promise<void> {
    const partition = (err as { partition?: number }).partition;
    const cursor = cursors.find((c) => c.range.partition === partition);
    if (!cursor) throw err;
    const [earliest] = await this.cluster.fetchTopicsOffset([{ topic, partitions: [{ partition: cursor.range.partition }], fromBeginning: true }]);
    const first = BigInt(earliest?.partitions[0]?.offset ?? '-1');
    if (first <= cursor.next) throw new OffsetsNotReadableError(topic, cursor.range.partition, cursor.next, 'the partition ends before it');
    const until = first < cursor.end ? first : cursor.end;
    for (let offset = cursor.next; offset < until; offset++) cursor.buffered.push({ partition: cursor.range.partition, offset: String(offset), key: null, value: null, deleted: true });
    cursor.next = until;
  }
}

/**
 * The fetched records of one partition that fall in the cursor's range, without aborted and
 * control records. No records at all is an error only for the partition that needed them (see
 * fetchRound); for another, the response's size limit may simply have been used up.
 *
 * The cursor moves to the end of the last record batch returned, as Kafka's Java consumer does:
 * past a transaction's marker, and past the tail of a batch that compaction emptied (its header
 * keeps its last offset). Kafka returns whole batches only, from the one that holds the offset
 * asked for, and a leader's batches are the same as every replica's; kafkajs leaves out a batch
 * cut short by the size limit. So every offset skipped is one no record holds. A response whose
 * batches all end before the offset asked for is no answer: the partition is asked again rather
 * than the offset skipped.
 */
export function take(topic: string, cursor: Cursor, data: KafkajsPartitionData, needed: boolean): void {
  const fetched = cursor.next;
  const raw = data.messages.filter((m) => BigInt(m.offset) >= fetched);
  const batchesEnd = data.messages.reduce((max, m) => (batchEnd(m) > max ? batchEnd(m) : max), fetched);
  if (raw.length === 0 && batchesEnd === fetched) {
    if (!needed) return;
    const stable = data.lastStableOffset ?? data.highWatermark;
    const returned = data.messages.length === 0 ? 'no records there' : `only records before it (up to ${data.messages[data.messages.length - 1]!.offset})`;
    throw new OffsetsNotReadableError(topic, cursor.range.partition, fetched, `the broker returned ${returned} (its committed records end at ${stable})`);
  }
  const visible = committedRecords(raw, data.abortedTransactions ?? []);
  for (const m of visible) {
    if (BigInt(m.offset) < cursor.end) cursor.buffered.push(readRecord(cursor.range.partition, m.offset, m.key, m.value, m.timestamp, m.headers));
  }
  const last = raw.reduce((max, m) => (BigInt(m.offset) + 1n > max ? BigInt(m.offset) + 1n : max), batchesEnd);
  cursor.next = last < cursor.end ? last : cursor.end;
}

/**
 * A record as the reader hands it out. Every record is built here, with its fields in this order,
 * so that V8 gives them all one shape: the worker's rehearsal (src/worker/warm-up.ts) builds its
 * records here too, and the code it compiles is the code real records run.
 */
export function readRecord(partition: number, offset: string, key: Buffer | null, value: Buffer | null, timestamp: string, headers: IHeaders | undefined): RangeRecord {
  return { partition, offset, key, value, timestamp, headers };
}

/** The offset after the record batch a record came in (its header's last offset, which compaction keeps). */
function batchEnd(record: KafkajsRecord): bigint {
  const { firstOffset, lastOffsetDelta } = record.batchContext;
  return firstOffset === undefined || lastOffsetDelta === undefined ? BigInt(record.offset) + 1n : BigInt(firstOffset) + BigInt(lastOffsetDelta) + 1n;
}

/**
 * The records a read_committed reader sees: no control records, and none of a transaction the
 * broker lists as aborted, from its first offset to its abort marker. As Kafka's Java consumer
 * does it: every aborted transaction that starts at or before a record is taken into account
 * before the record is judged. (kafkajs 2.2.4's own filter takes at most one per record, so a
 * fetch that starts inside several aborted transactions let one of their records through.)
 */
export function committedRecords(records: readonly KafkajsRecord[], abortedTransactions: readonly { producerId: string; firstOffset: string }[]): KafkajsRecord[] {
  const pending = [...abortedTransactions].sort((a, b) => compareOffsets(a.firstOffset, b.firstOffset));
  const aborting = new Set<string>();
  const visible: KafkajsRecord[] = [];
  for (const record of records) {
    while (pending.length > 0 && compareOffsets(pending[0]!.firstOffset, record.offset) <= 0) aborting.add(pending.shift()!.producerId);
    const { producerId, inTransaction } = record.batchContext;
    if (record.isControlRecord) {
      if (isAbortMarker(record)) aborting.delete(producerId);
      continue;
    }
    if (inTransaction && aborting.has(producerId)) continue;
    visible.push(record);
  }
  return visible;
}

/** A control record's key: version (int16) and type (int16), 0 for ABORT and 1 for COMMIT. */
function isAbortMarker(record: KafkajsRecord): boolean {
  return record.key !== null && record.key.length >= 4 && record.key.readInt16BE(2) === 0;
}

/** Decimal offsets compared as numbers, without converting them. */
function compareOffsets(a: string, b: string): number {
  return a.length === b.length ? (a < b ? -1 : a > b ? 1 : 0) : a.length - b.length;
}

/**
 * Throws (retriably, so that the metadata is read again) when the metadata names no leader for a
 * partition asked: kafkajs leaves such a partition out, and a round that fetched nothing would be
 * tried again at once, for good.
 */
function requireLeaders(topic: string, partitions: readonly number[], leaders: Record<string, number[]>): void {
  const led = new Set(Object.values(leaders).flat());
  const unled = partitions.filter((p) => !led.has(p));
  if (unled.length > 0) {
    throw new PipelineError(`Kafka's metadata names no leader for ${topic} partition${unled.length > 1 ? 's' : ''} ${unled.join(', ')} (yet); it is read again.`, { retriable: true });
  }
}
