/**
 * A batch input as anyone with access to the task queue could send it: checked before anything
 * is read or published, so that a crafted one fails its workflow with a clear error instead of
 * reading without bound or publishing under another lane's mark.
 */
import type { BatchSpec } from '../domain/batch';

/** Kafka's limit on a transactional id and a group id is the broker's; this keeps ours readable. */
const MAX_ID_CHARS = 512;
/** More ranges than any topic has partitions in practice. */
const MAX_RANGES = 10_000;
const OFFSET = /^\d{1,19}$/;

/** What is wrong with the input, in a few words, or undefined when it is a batch. */
export function validateBatchSpec(spec: unknown): string | undefined {
  if (typeof spec !== 'object' || spec === null) return 'it is not an object';
  const s = spec as Partial<BatchSpec>;
  for (const field of ['batchId', 'groupId', 'topic'] as const) {
    if (typeof s[field] !== 'string' || s[field].length === 0 || s[field].length > MAX_ID_CHARS) return `${field} is not a string of 1 to ${MAX_ID_CHARS} characters`;
  }
  const lane = s.lane;
  if (!lane || typeof lane.id !== 'string' || lane.id.length === 0 || lane.id.length > MAX_ID_CHARS) return 'lane.id is missing';
  if (!Number.isSafeInteger(lane.seq) || lane.seq < 1) return 'lane.seq is not a positive whole number';
  if (!Array.isArray(s.ranges) || s.ranges.length > MAX_RANGES) return `ranges is not a list of at most ${MAX_RANGES}`;
  const partitions = new Set<number>();
  for (const range of s.ranges) {
    if (typeof range !== 'object' || range === null) return 'a range is not an object';
    if (!Number.isSafeInteger(range.partition) || range.partition < 0) return 'a range has no valid partition';
    if (partitions.has(range.partition)) return `partition ${range.partition} has two ranges`;
    partitions.add(range.partition);
    if (typeof range.from !== 'string' || typeof range.to !== 'string' || !OFFSET.test(range.from) || !OFFSET.test(range.to)) return 'a range has offsets that are not decimal strings';
    if (BigInt(range.from) > BigInt(range.to)) return `the range of partition ${range.partition} ends before it starts`;
    if (typeof range.incarnation !== 'string' || range.incarnation.length === 0) return `the range of partition ${range.partition} has no incarnation`;
  }
  if (!Number.isSafeInteger(s.cutAtMs) || (s.cutAtMs as number) <= 0) return 'cutAtMs is not a time in epoch milliseconds';
  if (s.attemptTimeoutMs !== undefined && (!Number.isSafeInteger(s.attemptTimeoutMs) || s.attemptTimeoutMs < 1_000)) return 'attemptTimeoutMs is not a duration of at least a second';
  if (s.deadLetter !== undefined && typeof s.deadLetter?.error !== 'string') return 'deadLetter has no error sentence';
  return undefined;
}
