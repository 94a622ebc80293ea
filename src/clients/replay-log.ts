/**
 * What the replay log of a DLQ says was replayed (src/domain/replay.ts), per DLQ partition. A
 * worker reads each log partition once and then only what was appended since, so that a replay
 * in many segments reads each log record once per worker, not once per segment: the log only
 * grows (its keys are unique, so compaction removes nothing that matters), and what it held
 * stays true. Reads are read_committed: records of a fenced attempt never count.
 *
 * The replays of DLQ partition p write to log partition p modulo the log's partitions (the
 * worker makes the log with as many as the DLQ). That count must never change: the records of
 * earlier replays would then sit in another partition than the one later replays read.
 */
import type { Admin } from 'kafkajs';
import { parseReplayLogEntry, replayLogKey, type ReplayLogEntry } from '../domain/replay';
import { PipelineError } from '../errors';
import type { RangeReader } from './range-reader';

/** What the log says of one replayed dead letter. */
export type ReplayedEntry = Pick<ReplayLogEntry, 'identity' | 'run'>;

interface LogPartition {
  /** replayLogKey → the dead letter's identity when it was replayed, and the replay run that did. */
  replayed: Map<string, ReplayedEntry>;
  /** Offsets below this were read. */
  readUpTo: bigint;
}

/** Log records per read, in bytes: they are small, and reading them is all a replay waits for at its start. */
const READ_CHUNK_BYTES = 1024 * 1024;

export class ReplayLog {
  private readonly partitions = new Map<string, LogPartition>();
  private readonly partitionCounts = new Map<string, Promise<number>>();

  constructor(
    private readonly reader: RangeReader,
    private readonly admin: Admin,
  ) {}

  /** The log partition that holds the replays of DLQ partition `dlqPartition`. */
  async logPartitionOf(logTopic: string, dlqPartition: number): Promise<number> {
    let count = this.partitionCounts.get(logTopic);
    if (!count) {
      count = this.admin.fetchTopicMetadata({ topics: [logTopic] }).then(({ topics }) => {
        const n = topics[0]?.partitions.length ?? 0;
        if (n === 0) throw new PipelineError(`The replay log ${logTopic} has no partitions; the worker makes it at start.`, { retriable: true });
        return n;
      });
      this.partitionCounts.set(logTopic, count);
      count.catch(() => this.partitionCounts.delete(logTopic));
    }
    return dlqPartition % (await count);
  }

  /**
   * Reads what the log partition of `dlqPartition` gained since the last read, up to its end now
   * (its high watermark: a transaction still open below it is waited for, not skipped). Returns
   * that end. Call it after fencing the DLQ partition's earlier replays: then everything they
   * committed is below the end, and nothing of theirs can appear above it.
   */
  async refresh(logTopic: string, dlqPartition: number, signal?: AbortSignal): Promise<{ logPartition: number; end: bigint }> {
    const logPartition = await this.logPartitionOf(logTopic, dlqPartition);
    const offsets = await this.admin.fetchTopicOffsets(logTopic);
    const bounds = offsets.find((o) => o.partition === logPartition);
    if (!bounds) throw new PipelineError(`The replay log ${logTopic} has no partition ${logPartition}.`, { retriable: true });
    const end = BigInt(bounds.high);
    const state = this.stateOf(logTopic, logPartition, BigInt(bounds.low));
    const from = state.readUpTo;
    if (from < end) {
      const range = { partition: logPartition, from: String(from), to: String(end) };
      for await (const records of this.reader.read(logTopic, [range], { chunkBytes: READ_CHUNK_BYTES, signal })) {
        for (const record of records) {
          const entry = record.deleted ? undefined : parseReplayLogEntry(record.value);
          if (entry) state.replayed.set(replayLogKey(entry.dlq.partition, entry.dlq.offset), { identity: entry.identity, run: entry.run });
        }
      }
      if (end > state.readUpTo) state.readUpTo = end;
    }
    return { logPartition, end };
  }

  /** What the log says of the dead letter replayed from this place, as far as it was read; undefined when none was. */
  replayed(logTopic: string, logPartition: number, dlqPartition: number, offset: string): ReplayedEntry | undefined {
    return this.partitions.get(`${logTopic}#${logPartition}`)?.replayed.get(replayLogKey(dlqPartition, offset));
  }

  /** Records what this worker's own committed transaction put in the log, without reading it back. */
  add(logTopic: string, logPartition: number, dlqPartition: number, offset: string, entry: ReplayedEntry): void {
    this.partitions.get(`${logTopic}#${logPartition}`)?.replayed.set(replayLogKey(dlqPartition, offset), entry);
  }

  private stateOf(logTopic: string, logPartition: number, low: bigint): LogPartition {
    const key = `${logTopic}#${logPartition}`;
    let state = this.partitions.get(key);
    if (!state) {
      state = { replayed: new Map(), readUpTo: low };
      this.partitions.set(key, state);
    }
    return state;
  }
}
