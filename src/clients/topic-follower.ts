/**
 * Follows topics as a read_committed reader, by exact offsets and without a consumer group: from
 * their start (or their end when it starts), each new stretch up to each partition's last stable
 * offset is read with the RangeReader and handed on, in offset order per partition. Nothing is
 * committed and nothing is read twice, whatever the brokers do meanwhile (a kafkajs consumer in a
 * throwaway group starts over after a broker restart; and kafkajs 2.2.4 can let a record of an
 * aborted transaction through: see committedRecords in src/clients/range-reader.ts).
 */
import type { Kafka } from 'kafkajs';
import { repeat } from '../process/repeat';
import { RangeReader, type RangeRecord } from './range-reader';

export interface FollowOptions {
  fromBeginning: boolean;
  /** How often it looks for new records. */
  intervalMs?: number;
  /** Told of a read that failed (it tries again, backing off). */
  onError?: (err: unknown) => void;
}

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

  /** Resolves once it knows where each partition starts; follows in the background until stop(). */
  async start(): Promise<this> {
    for (const topic of this.topics) this.positions.set(topic, await this.reader.offsets(topic, this.options.fromBeginning ? 'earliest' : 'stable'));
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
