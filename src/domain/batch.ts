/**
 * What a batch is (docs/design.md, "The hand-off"). A batch is a set of offset ranges of the
 * input topic, one per partition that had new records when the bridge cut it: the records
 * themselves stay in Kafka and the worker reads them from there (the claim-check pattern), so a
 * workflow's input is a few hundred bytes whatever the records weigh.
 *
 * Each batch travels in a lane: one bridge's serial stream with at most one batch in flight. A
 * lane's id is the Kafka transactional id under which the worker publishes the lane's batches
 * (a new attempt fences every earlier one) and the consumer group whose committed offset marks
 * how far the lane has published. Pure and free of Node built-ins: workflow code imports it.
 */

/** Offsets [from, to) of one partition; decimal strings, as Kafka offsets are 64-bit. */
export interface OffsetRange {
  partition: number;
  from: string;
  to: string;
  /**
   * The partition's incarnation: a token the bridge keeps in its group's committed offsets. A
   * topic deleted and made again (or a Kafka whose data was wiped) loses them, so a batch of the
   * old topic can never read the new one's records at its offsets.
   */
  incarnation: string;
}

export interface Lane {
  /** Kafka transactional id and consumer group of the lane. */
  id: string;
  /** The batch's place in its lane: batches of a lane are numbered 1, 2, 3… */
  seq: number;
}

/** The input of a processRanges workflow. */
export interface BatchSpec {
  batchId: string;
  /** The bridge's consumer group, which holds each partition's incarnation token. */
  groupId: string;
  topic: string;
  ranges: OffsetRange[];
  lane: Lane;
  /**
   * When the bridge cut the batch (epoch ms): the "now" of the record rules and of lateness, the
   * same for every attempt and every re-drive of the batch.
   */
  cutAtMs: number;
  /** How long one attempt may take (BATCH_ATTEMPT_TIMEOUT_MS); the workflow's default when absent. */
  attemptTimeoutMs?: number;
  /** A batch a bridge re-drove after its runs failed too often: every record becomes a dead letter saying so. */
  deadLetter?: { error: string };
  /**
   * A batch taken over by another bridge before its own bridge started it (docs/design.md,
   * "Intents"): it holds no records and publishes nothing.
   */
  void?: boolean;
}

/** The workflow type of a batch, for listing them in Temporal. */
export const BATCH_WORKFLOW_TYPE = 'processRanges';

/** The error type of a batch input that cannot be processed; the workflow fails, it is not retried. */
export const INVALID_BATCH_INPUT = 'InvalidBatchInput';

/** The error type of a batch whose input partition was recreated or reset since it was cut. */
export const SUPERSEDED_BATCH = 'SupersededBatch';

/**
 * A lane publishes each batch in one or more Kafka transactions (one per chunk of at most
 * BATCH_MAX_BYTES of input). A chunk is published when the lane's mark has reached
 * `seq × CHUNKS_PER_BATCH + chunk`.
 */
export const CHUNKS_PER_BATCH = 1n << 20n;

export function chunkMark(seq: number, chunk: number): bigint {
  return BigInt(seq) * CHUNKS_PER_BATCH + BigInt(chunk);
}

export function batchId(groupId: string, topic: string, run: string, lane: number, seq: number): string {
  return `${groupId}/${topic}/${run}.${lane}.${seq}`;
}

export function batchWorkflowId(id: string): string {
  return `batch/${id}`;
}

/** The lane's transactional id and consumer group. */
export function laneId(groupId: string, topic: string, run: string, lane: number): string {
  return `${groupId}/${topic}/${run}/lane-${lane}`;
}

/** How many offsets the ranges hold (records, control records and compacted gaps alike). */
export function offsetCount(ranges: readonly OffsetRange[]): number {
  return ranges.reduce((n, r) => n + Number(BigInt(r.to) - BigInt(r.from)), 0);
}

/** The ranges as one short line for a memo or a log: `0:100-200 3:7-9` (half-open). */
export function formatRanges(ranges: readonly OffsetRange[]): string {
  return ranges.map((r) => `${r.partition}:${r.from}-${r.to}`).join(' ');
}

/** The inverse of formatRanges, without incarnations; undefined when the text is not of its form. */
export function parseRanges(text: unknown): Omit<OffsetRange, 'incarnation'>[] | undefined {
  if (typeof text !== 'string') return undefined;
  const ranges: Omit<OffsetRange, 'incarnation'>[] = [];
  for (const part of text.split(' ').filter(Boolean)) {
    const match = /^(\d+):(\d+)-(\d+)$/.exec(part);
    if (!match) return undefined;
    ranges.push({ partition: Number(match[1]), from: match[2]!, to: match[3]! });
  }
  return ranges;
}

/** What the bridge records in each batch workflow's memo, and reads back to resolve an intent. */
export interface BatchMemo {
  topic: string;
  /** formatRanges of the batch's ranges. */
  ranges: string;
  /** Offsets covered (offsetCount). */
  offsets: number;
  /** When the bridge cut it (epoch ms): its records were in Kafka by then. */
  cutAtMs: number;
}
