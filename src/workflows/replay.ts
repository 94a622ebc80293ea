/**
 * A replay of dead letters (`npm run dlq -- replay`): one activity fixes which DLQ offsets it
 * reads (each partition up to its end when the replay started), then one activity per segment
 * of a partition replays it (src/activities/replay.ts), the partitions side by side, each in
 * offset order. Its `progress` query answers how far it is and what it found, by reason; the
 * result is the same, final. Its history stays small: it continues as new every few hundred
 * segments, carrying what it did.
 */
import { ApplicationFailure, continueAsNew, defineQuery, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ReplayActivities } from '../activities/replay';
import {
  addCounts,
  DEFAULT_SEGMENT_OFFSETS,
  emptyCounts,
  INVALID_REPLAY_INPUT,
  offsetsOf,
  REPLAY_PROGRESS_QUERY,
  segmentsOf,
  totalsOf,
  type ReplayInput,
  type ReplayProgress,
  type ReplayResult,
  type ReplayState,
  validateReplayInput,
} from '../domain/replay';
import { DEAD_LETTER_COUNT, LOGIN_COUNT } from '../domain/search-attributes';

export const progressQuery = defineQuery<ReplayProgress>(REPLAY_PROGRESS_QUERY);

/**
 * Outages are retried until they pass; a fenced attempt (another replay of the same partition
 * started) is retried too, and then fences that one in turn, each keeping what it committed. The
 * heartbeat timeout is what notices a worker that died in the middle of a segment.
 */
const { planReplay, replaySegment } = proxyActivities<ReplayActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', nonRetryableErrorTypes: [INVALID_REPLAY_INPUT] },
});

/** Segments per run before it continues as new: a few thousand history events. */
const SEGMENTS_PER_RUN = 300;

export async function replayDeadLetters(input: ReplayInput): Promise<ReplayResult> {
  const problem = validateReplayInput(input);
  if (problem) throw ApplicationFailure.nonRetryable(`The replay input is malformed: ${problem}.`, INVALID_REPLAY_INPUT);
  const first = workflowInfo();
  const segmentOffsets = input.segmentOffsets ?? DEFAULT_SEGMENT_OFFSETS;
  let state: ReplayState | undefined = input.state;
  let phase: ReplayProgress['phase'] = state ? 'replaying' : 'planning';
  const startedAt = state?.startedAt ?? first.runStartTime.toISOString();

  const progress = (): ReplayProgress => ({
    replayId: first.workflowId,
    dlqTopic: input.dlqTopic,
    dryRun: input.dryRun,
    selection: input.selection,
    phase,
    offsets: state ? offsetsDone(state) : { done: 0, total: 0 },
    counts: state?.counts ?? emptyCounts(),
    startedAt,
  });
  setHandler(progressQuery, progress);

  // The rules' "now" is the replay's start, the same for every attempt and every run.
  state ??= { plan: await planReplay(input.dlqTopic, input.selection, first.runStartTime.getTime()), next: {}, counts: emptyCounts(), startedAt };
  const current = state;
  phase = 'replaying';

  for (let segments = 0; ; ) {
    const round = current.plan.ranges.flatMap((range) => segmentsOf(range, current.next[range.partition], segmentOffsets).slice(0, 1));
    if (round.length === 0) break;
    if (segments >= SEGMENTS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof replayDeadLetters>({ ...input, state: current });
    }
    const results = await Promise.all(
      round.map((segment) =>
        replaySegment({
          replayId: first.workflowId,
          run: first.firstExecutionRunId,
          dlqTopic: input.dlqTopic,
          selection: input.selection,
          dryRun: input.dryRun,
          processedAtMs: current.plan.processedAtMs,
          segment,
        }),
      ),
    );
    results.forEach((counts, i) => {
      current.counts = addCounts(current.counts, counts);
      current.next[round[i]!.partition] = round[i]!.to;
    });
    segments += round.length;
    const totals = totalsOf(current.counts);
    upsertSearchAttributes([
      { key: LOGIN_COUNT, value: totals.replayed },
      { key: DEAD_LETTER_COUNT, value: totals.stillInvalid + totals.notReplayable },
    ]);
  }

  phase = 'done';
  return { ...progress(), totals: totalsOf(current.counts), finishedAt: new Date().toISOString() };
}

function offsetsDone(state: ReplayState): { done: number; total: number } {
  const total = offsetsOf(state.plan.ranges);
  const left = state.plan.ranges.reduce((n, r) => n + offsetsOf([{ ...r, from: state.next[r.partition] ?? r.from }]), 0);
  return { done: total - left, total };
}
