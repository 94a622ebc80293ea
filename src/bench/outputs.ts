/**
 * The benchmark's view of the outputs: a read_committed follower (src/clients/topic-follower.ts)
 * that indexes every login and dead letter by the input offset it came from, with its Kafka
 * timestamp; and the input's own timestamps, read by exact offset range.
 */
import type { Kafka } from 'kafkajs';
import { RangeReader } from '../clients/range-reader';
import { TopicFollower } from '../clients/topic-follower';

/** `topic:partition:offset` of the input record an output came from. */
function sourceKey(topic: string, partition: number | string, offset: string): string {
  return `${topic}:${partition}:${offset}`;
}

export class OutputIndex {
  /** Source → the Kafka timestamp of its first output. */
  private readonly times = new Map<string, number>();
  /** Source → how many outputs it has (more than 1 is a duplicate). */
  private readonly counts = new Map<string, number>();
  private follower: TopicFollower | undefined;

  /** Starts indexing the topics from their beginning; keeps up until close(). */
  static async start(kafka: Kafka, topics: string[]): Promise<OutputIndex> {
    const index = new OutputIndex();
    index.follower = await new TopicFollower(kafka, topics, (_topic, records) => {
      for (const m of records) {
        const key = outputSource(m.value, m.headers ?? {});
        if (key === undefined) continue;
        index.counts.set(key, (index.counts.get(key) ?? 0) + 1);
        if (!index.times.has(key)) index.times.set(key, Number(m.timestamp));
      }
    }, { fromBeginning: true }).start();
    return index;
  }

  timeOf(source: string): number | undefined {
    return this.times.get(source);
  }

  /** The latest Kafka timestamp of a first output of `topic`'s records: when the last of them came out. */
  lastTimeOf(topic: string): number {
    let last = 0;
    for (const [key, time] of this.times) if (time > last && key.startsWith(`${topic}:`)) last = time;
    return last;
  }

  /** The Kafka timestamps of the first outputs of `topic`'s records at or past `from` (per partition), one per record that came out. */
  timesOf(topic: string, from: number[]): number[] {
    const times: number[] = [];
    for (const [key, time] of this.times) {
      const [t, partition, offset] = key.split(':');
      if (t === topic && Number(offset) >= (from[Number(partition)] ?? Infinity)) times.push(time);
    }
    return times;
  }

  /** Sources of `topic` at or past `from` (per partition) that came out. */
  countFrom(topic: string, from: number[]): number {
    return this.timesOf(topic, from).length;
  }

  /** Input offsets below `ends` (per partition) with no output, and outputs beyond one per offset. */
  accountFor(topic: string, ends: number[]): { lost: number; duplicates: number } {
    let lost = 0;
    let duplicates = 0;
    ends.forEach((end, partition) => {
      for (let offset = 0; offset < end; offset++) {
        const n = this.counts.get(sourceKey(topic, partition, String(offset))) ?? 0;
        if (n === 0) lost++;
        else duplicates += n - 1;
      }
    });
    return { lost, duplicates };
  }

  async close(): Promise<void> {
    await this.follower?.stop();
  }
}

/** The source of a processed login (its JSON `source`) or a dead letter (its dlq.source.* headers); none for a summary. */
function outputSource(value: Buffer | null, headers: Record<string, unknown>): string | undefined {
  const header = (name: string) => headers[name]?.toString();
  if (header('dlq.source.offset') !== undefined) return sourceKey(header('dlq.source.topic')!, header('dlq.source.partition')!, header('dlq.source.offset')!);
  if (header('type') !== 'login' || value === null) return undefined;
  const { source } = JSON.parse(value.toString('utf8')) as { source: { topic: string; partition: number; offset: string } };
  return sourceKey(source.topic, source.partition, source.offset);
}

/** The Kafka timestamps of the input records [from, to) of each partition, by source. */
export async function inputTimes(kafka: Kafka, topic: string, from: number[], to: number[]): Promise<Map<string, number>> {
  const reader = new RangeReader(kafka);
  const times = new Map<string, number>();
  try {
    const ranges = from.map((start, partition) => ({ partition, from: String(start), to: String(to[partition] ?? start) }));
    for await (const records of reader.read(topic, ranges, { chunkBytes: 8 * 1024 * 1024 })) {
      for (const r of records) if (r.timestamp !== undefined) times.set(sourceKey(topic, r.partition, r.offset), Number(r.timestamp));
    }
  } finally {
    await reader.close();
  }
  return times;
}
