/**
 * Replaying dead letters (`npm run dlq -- replay`, docs/operations-dead-letters.md): what a
 * replay selects, the names it uses, the record it logs per replayed dead letter and the counts
 * it reports. Pure and free of Node built-ins: the replay workflow imports it.
 *
 * The guarantee: each dead letter is replayed at most once, whatever runs, with whatever
 * selections, at the same time or one after another, killed or not. Per DLQ partition there is
 * one Kafka transactional id (replayLaneId): a replay attempt's producer fences every earlier
 * one, then reads the partition's replay log (replayLogTopic) to learn what was replayed, and
 * publishes the rest in transactions that write, with each login, one log record per dead letter
 * it replays. A fenced attempt can no longer commit; what it wrote is aborted.
 */
import type { SourceRef } from './types';

/** Which dead letters a replay takes: as `npm run dlq -- list` selects them (dlq.failed_at in [since, until)). */
export interface ReplaySelection {
  reason?: string;
  field?: string;
  sinceMs?: number;
  untilMs?: number;
}

export interface ReplayInput {
  dlqTopic: string;
  selection: ReplaySelection;
  /** Report what would happen, write nothing. */
  dryRun: boolean;
  /** DLQ offsets per activity (a step of the progress bar); DEFAULT_SEGMENT_OFFSETS when absent. */
  segmentOffsets?: number;
  /** Set only by the workflow itself when it continues as new. */
  state?: ReplayState;
}

/** Offsets [from, to) of one DLQ partition, fixed when the replay starts. */
export interface ReplayRange {
  partition: number;
  from: string;
  to: string;
}

export interface ReplayPlan {
  /** The "now" of the rules and of lateness for every dead letter of this replay, every attempt alike. */
  processedAtMs: number;
  ranges: ReplayRange[];
}

/** What a replay carries from one run to the next when it continues as new. */
export interface ReplayState {
  plan: ReplayPlan;
  /** Per partition, the next offset to replay (ranges done up to it). */
  next: Record<string, string>;
  counts: ReplayCounts;
  startedAt: string;
}

/** One group of the report: the dead letters of one (reason, field), as they were dead-lettered. */
export interface ReplayGroup {
  reason: string;
  field: string | null;
  /** Dead letters of the group that the selection took. */
  selected: number;
  /** Now valid and published as logins by this replay, in whichever of its attempts (in a dry run: would be). */
  replayed: number;
  /** Replayed before by another replay (or an earlier run under the same id): skipped. */
  alreadyReplayed: number;
  /** Still invalid under today's rules: left where they are. */
  stillInvalid: number;
  /** Without a readable dlq.source.* (written by hand, another tool): a login would have no source. */
  notReplayable: number;
  /** Why one of the still invalid is, today (reason, field and sentence), and where it is. */
  stillInvalidSample?: { reason: string; field: string | null; error: string; partition: number; offset: string };
}

export interface ReplayCounts {
  /** DLQ records read (selected or not). */
  read: number;
  groups: ReplayGroup[];
}

export interface ReplayProgress {
  replayId: string;
  dlqTopic: string;
  dryRun: boolean;
  selection: ReplaySelection;
  phase: 'planning' | 'replaying' | 'done';
  /** DLQ offsets covered so far, of the offsets the replay reads. */
  offsets: { done: number; total: number };
  counts: ReplayCounts;
  startedAt: string;
}

export interface ReplayResult extends ReplayProgress {
  totals: Omit<ReplayGroup, 'reason' | 'field' | 'stillInvalidSample'>;
  finishedAt: string;
}

export const REPLAY_WORKFLOW_TYPE = 'replayDeadLetters';
/** The query that answers a ReplayProgress (`npm run temporal -- workflow query --type progress`). */
export const REPLAY_PROGRESS_QUERY = 'progress';
export const DEFAULT_SEGMENT_OFFSETS = 500;
/** The error type of a replay whose input cannot be replayed (not this worker's DLQ); not retried. */
export const INVALID_REPLAY_INPUT = 'InvalidReplayInput';

const MAX_SEGMENT_OFFSETS = 1_000_000;

/**
 * What is wrong with a replay's input, in a few words, or undefined when it can be replayed:
 * anyone with access to the task queue can start one, so the workflow checks before it reads.
 */
export function validateReplayInput(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return 'it is not an object';
  const i = input as Partial<ReplayInput>;
  if (typeof i.dlqTopic !== 'string' || i.dlqTopic.length === 0) return 'dlqTopic is not a topic name';
  if (typeof i.dryRun !== 'boolean') return 'dryRun is not true or false';
  const s = i.selection;
  if (typeof s !== 'object' || s === null) return 'selection is not an object';
  for (const key of ['reason', 'field'] as const) if (s[key] !== undefined && typeof s[key] !== 'string') return `selection.${key} is not a string`;
  for (const key of ['sinceMs', 'untilMs'] as const) if (s[key] !== undefined && !Number.isSafeInteger(s[key])) return `selection.${key} is not a time in epoch milliseconds`;
  if (i.segmentOffsets !== undefined && (!Number.isSafeInteger(i.segmentOffsets) || i.segmentOffsets < 1 || i.segmentOffsets > MAX_SEGMENT_OFFSETS)) {
    return `segmentOffsets is not a whole number from 1 to ${MAX_SEGMENT_OFFSETS}`;
  }
  return undefined;
}

/** The replay log of a DLQ: one record per replayed dead letter, written in the transaction of its login. */
export function replayLogTopic(dlqTopic: string): string {
  return `${dlqTopic}.replayed`;
}

/** The transactional id (and mark group) of the replays of one DLQ partition. */
export function replayLaneId(groupId: string, dlqTopic: string, partition: number): string {
  return `${groupId}/replay/${dlqTopic}/${partition}`;
}

/**
 * The workflow id of a replay: one per selection, readable in the Web UI. Running the same
 * command again while it runs follows it; after it ended, starts a new run under the same id.
 * The guarantee does not rest on it: replays of other selections may run at the same time.
 */
export function replayWorkflowId(dlqTopic: string, selection: ReplaySelection, dryRun: boolean): string {
  const parts = [`replay/${dlqTopic}`];
  if (selection.reason !== undefined) parts.push(`reason=${selection.reason}`);
  if (selection.field !== undefined) parts.push(`field=${selection.field}`);
  if (selection.sinceMs !== undefined) parts.push(`since=${new Date(selection.sinceMs).toISOString()}`);
  if (selection.untilMs !== undefined) parts.push(`until=${new Date(selection.untilMs).toISOString()}`);
  if (parts.length === 1) parts.push('all');
  if (dryRun) parts.push('dry-run');
  return parts.join('/');
}

/** The selection as one line: "reason invalid_field, failed from … to …" or "every dead letter". */
export function describeSelection(selection: ReplaySelection): string {
  const parts: string[] = [];
  if (selection.reason !== undefined) parts.push(`reason ${selection.reason}`);
  if (selection.field !== undefined) parts.push(`field ${selection.field}`);
  if (selection.sinceMs !== undefined || selection.untilMs !== undefined) {
    const since = selection.sinceMs === undefined ? 'the start' : new Date(selection.sinceMs).toISOString();
    const until = selection.untilMs === undefined ? 'now' : new Date(selection.untilMs).toISOString();
    parts.push(`failed from ${since} to ${until}`);
  }
  return parts.length === 0 ? 'every dead letter' : parts.join(', ');
}

/** What identifies a dead letter beyond its place: the input record it carries and when it failed. A recreated DLQ reuses places, not this. */
export function deadLetterIdentity(source: SourceRef, failedAt: string | null): string {
  return `${source.topic}:${source.partition}:${source.offset}@${failedAt ?? ''}`;
}

/** The key of a dead letter's record in the replay log. */
export function replayLogKey(partition: number, offset: string): string {
  return `${partition}:${offset}`;
}

/** The value of a dead letter's record in the replay log (JSON). */
export interface ReplayLogEntry {
  dlq: SourceRef;
  identity: string;
  /** The replay's workflow id. */
  replay: string;
  /** Its run (the first run id of the workflow, kept when it continues as new): a later run under the same id is another replay. */
  run: string;
  replayed_at: string;
}

export function parseReplayLogEntry(value: Uint8Array | string | null | undefined): ReplayLogEntry | undefined {
  if (value === null || value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : new TextDecoder().decode(value));
  } catch {
    return undefined;
  }
  const entry = parsed as Partial<ReplayLogEntry> | null;
  const dlq = entry?.dlq as Partial<SourceRef> | undefined;
  const ok = typeof entry?.identity === 'string' && typeof entry.run === 'string' && typeof dlq?.topic === 'string' && Number.isInteger(dlq.partition) && typeof dlq.offset === 'string';
  return ok ? (entry as ReplayLogEntry) : undefined;
}

/** The segments still to do, per partition in order: [from, to) of at most `size` offsets. */
export function segmentsOf(range: ReplayRange, next: string | undefined, size: number): ReplayRange[] {
  const segments: ReplayRange[] = [];
  const end = BigInt(range.to);
  for (let at = BigInt(next ?? range.from); at < end; ) {
    const to = at + BigInt(size) < end ? at + BigInt(size) : end;
    segments.push({ partition: range.partition, from: String(at), to: String(to) });
    at = to;
  }
  return segments;
}

export function offsetsOf(ranges: readonly ReplayRange[]): number {
  return ranges.reduce((n, r) => n + Number(BigInt(r.to) - BigInt(r.from)), 0);
}

export function emptyCounts(): ReplayCounts {
  return { read: 0, groups: [] };
}

/** The group of one (reason, field) in `counts`, made when missing. */
export function groupOf(counts: ReplayCounts, reason: string, field: string | null): ReplayGroup {
  let group = counts.groups.find((g) => g.reason === reason && g.field === field);
  if (!group) {
    group = { reason, field, selected: 0, replayed: 0, alreadyReplayed: 0, stillInvalid: 0, notReplayable: 0 };
    counts.groups.push(group);
  }
  return group;
}

/** a + b, as a new value; groups sorted largest first. */
export function addCounts(a: ReplayCounts, b: ReplayCounts): ReplayCounts {
  const sum: ReplayCounts = { read: a.read + b.read, groups: a.groups.map((g) => ({ ...g })) };
  for (const g of b.groups) {
    const into = groupOf(sum, g.reason, g.field);
    into.selected += g.selected;
    into.replayed += g.replayed;
    into.alreadyReplayed += g.alreadyReplayed;
    into.stillInvalid += g.stillInvalid;
    into.notReplayable += g.notReplayable;
    into.stillInvalidSample ??= g.stillInvalidSample;
  }
  sum.groups.sort((x, y) => y.selected - x.selected || x.reason.localeCompare(y.reason) || String(x.field).localeCompare(String(y.field)));
  return sum;
}

export function totalsOf(counts: ReplayCounts): ReplayResult['totals'] {
  const totals = { selected: 0, replayed: 0, alreadyReplayed: 0, stillInvalid: 0, notReplayable: 0 };
  for (const g of counts.groups) {
    totals.selected += g.selected;
    totals.replayed += g.replayed;
    totals.alreadyReplayed += g.alreadyReplayed;
    totals.stillInvalid += g.stillInvalid;
    totals.notReplayable += g.notReplayable;
  }
  return totals;
}
