/**
 * Follows topics as a read_committed reader, by exact offsets and without a consumer group: from
 * their start (or their end when it starts), each new stretch up to each partition's last stable
 * offset is read with the RangeReader and handed on, in offset order per partition. Nothing is
 * committed and nothing is read twice, whatever the brokers do meanwhile (a kafkajs consumer in a
 * throwaway group starts over after a broker restart; and kafkajs 2.2.4 can let a record of an
 * aborted transaction through: see committedRecords in src/clients/range-reader.ts).
 */
import type { Kafka } from 'kafkajs';
import { kafkaErrorType } from '../errors';
import { repeat } from '../process/repeat';
import { retry } from '../process/retry';
import { RangeReader, type RangeRecord } from './range-reader';

export interface FollowOptions {
  fromBeginning: boolean;
  /** How often it looks for new records. */
  intervalMs?: number;
  /** Told of a read that failed (it tries again, backing off). */
  onError?: (err: unknown) => void;
}

/** A broker's answers about a topic another broker has just created. */
const NOT_YET_KNOWN = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_OR_FOLLOWER', 'NOT_LEADER_FOR_PARTITION']);

export class TopicFollower {
  private readonly reader: RangeReader;
  private readonly positions = new Map<string, Map<number, bigint>>();
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    kafka: Kafka,
    private readonly topics: string[],
    private readonly onRecords: (topic: string, records: RangeRecord[]) => void,
    private readonly options: FollowOptions,
  ) {
    this.reader = new RangeReader(kafka);
  }

  /**
   * Resolves once it knows where each partition starts; follows in the background until stop().
   * On a cluster a topic just created is unknown for a moment to the broker asked, or to its
   * partitions' leaders: asked again for a few seconds.
   */
  async start(): Promise<this> {
    const which = this.options.fromBeginning ? 'earliest' : 'stable';
    for (const topic of this.topics) {
      const offsets = await retry(() => this.reader.offsets(topic, which), { retries: 8, initialMs: 100, maxMs: 2_000, retriable: (err) => NOT_YET_KNOWN.has(kafkaErrorType(err) ?? '') });
      this.positions.set(topic, offsets);
    }
    this.running = repeat(() => this.readNew(), {
      intervalMs: this.options.intervalMs ?? 100,
      signal: this.stopping.signal,
      backoff: { initialMs: 200, maxMs: 5_000 },
      onError: (err) => this.options.onError?.(err),
    });
    return this;
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running?.catch(() => undefined);
    await this.reader.close();
  }

  /** Reads every partition's records from where it stands to its last stable offset. */
  private async readNew(): Promise<void> {
    for (const topic of this.topics) {
      const positions = this.positions.get(topic)!;
      const ends = await this.reader.offsets(topic, 'stable');
      const ranges = [...ends]
        .map(([partition, end]) => ({ partition, from: positions.get(partition) ?? 0n, to: end }))
        .filter((r) => r.to > r.from)
        .map((r) => ({ partition: r.partition, from: String(r.from), to: String(r.to) }));
      if (ranges.length === 0) continue;
      for await (const records of this.reader.read(topic, ranges, { chunkBytes: 4 * 1024 * 1024, signal: this.stopping.signal })) {
        this.onRecords(topic, records.filter((r) => !r.deleted));
        // Delivered: a read that fails later goes on after these, never hands them on again.
        for (const r of records) positions.set(r.partition, BigInt(r.offset) + 1n);
      }
      for (const r of ranges) positions.set(r.partition, BigInt(r.to));
    }
  }
}
