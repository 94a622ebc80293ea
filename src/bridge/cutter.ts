/**
 * When to cut a batch and what it holds. Pure.
 *
 * One batch spans every partition the bridge owns that has new records, so the number of
 * workflows does not grow with partitions: a bridge cuts at most one batch per
 * BATCH_MAX_WAIT_MS while records trickle in (one per lane that is free, under a backlog; what
 * waits when it takes its partitions is due at once), and each batch takes at most
 * BATCH_MAX_RECORDS offsets, shared fairly among the partitions. Small batches when the input is
 * slow, large ones when it is behind: one setting for latency, one for size, and the lanes in
 * flight bound the rest.
 */
import type { OffsetRange } from '../domain/batch';

export interface PartitionPosition {
  partition: number;
  /** The next offset to hand off. */
  next: bigint;
  /** The partition's last stable offset as last read: offsets below it can be handed off. */
  end: bigint;
  incarnation: string;
}

export interface CutSettings {
  maxRecords: number;
  maxWaitMs: number;
}

/** Offsets waiting to be handed off, over every partition. */
export function pendingOffsets(positions: Iterable<PartitionPosition>): number {
  let pending = 0;
  for (const p of positions) if (p.end > p.next) pending += Number(p.end - p.next);
  return pending;
}

/** Whether to cut now: a full batch is waiting, or the oldest waiting record has waited long enough. */
export function shouldCut(pending: number, waitingSinceMs: number | undefined, nowMs: number, settings: CutSettings): boolean {
  if (pending === 0 || waitingSinceMs === undefined) return false;
  return pending >= settings.maxRecords || nowMs - waitingSinceMs >= settings.maxWaitMs;
}

/**
 * The ranges of the next batch: every partition with pending offsets, each given an equal share
 * of `maxRecords` (a partition with less leaves its share to the others), in partition order.
 */
export function cutRanges(positions: readonly PartitionPosition[], maxRecords: number): OffsetRange[] {
  const waiting = positions.filter((p) => p.end > p.next).sort((a, b) => Number(a.end - a.next) - Number(b.end - b.next));
  const take = new Map<number, number>();
  let budget = maxRecords;
  waiting.forEach((p, i) => {
    const share = Math.floor(budget / (waiting.length - i));
    const n = Math.min(Number(p.end - p.next), Math.max(share, budget > 0 ? 1 : 0));
    take.set(p.partition, n);
    budget -= n;
  });
  return waiting
    .filter((p) => (take.get(p.partition) ?? 0) > 0)
    .sort((a, b) => a.partition - b.partition)
    .map((p) => ({ partition: p.partition, from: String(p.next), to: String(p.next + BigInt(take.get(p.partition)!)), incarnation: p.incarnation }));
}

/**
 * How long the bridge may wait before it looks at its partitions again while records wait for a
 * batch that is not due yet: until the oldest has waited `maxWaitMs`, or, when they come in fast
 * enough to fill a batch first, until then, at the highest rate that fits what it saw (the
 * records waiting came within the last `intervalMs` at the least). Never sooner than `intervalMs`
 * unless the batch is due sooner, and never later than `MAX_LOOK_MS`, so that a new assignment is
 * taken up within a second whatever BATCH_MAX_WAIT_MS is. Each look asks Kafka for the
 * partitions' ends: looking every interval while nothing can be cut costs requests and CPU for
 * nothing (at 2,000 records/s, five looks a batch where two do).
 */
export function nextLookMs(pending: number, waitingSinceMs: number, nowMs: number, settings: CutSettings, intervalMs: number): number {
  const untilDue = waitingSinceMs + settings.maxWaitMs - nowMs;
  const perMs = pending / Math.max(intervalMs, nowMs - waitingSinceMs);
  const untilFull = perMs > 0 ? (settings.maxRecords - pending) / perMs : Infinity;
  return Math.max(0, Math.min(untilDue, MAX_LOOK_MS, Math.max(intervalMs, Math.floor(untilFull))));
}

/** The longest the bridge goes without looking at its partitions while records wait. */
export const MAX_LOOK_MS = 1_000;
