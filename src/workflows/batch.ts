/**
 * A batch: one local activity reads its offset ranges from Kafka, transforms the records,
 * aggregates and publishes them. Local, because the whole workflow then completes in one workflow
 * task: start, one task, done (docs/design.md, "What a batch costs").
 */
import { proxyLocalActivities, upsertSearchAttributes, workflowInfo, type LocalActivityOptions } from '@temporalio/workflow';
import type { BatchActivities } from '../activities/batch';
import { INVALID_BATCH_INPUT, SUPERSEDED_BATCH, type BatchSpec } from '../domain/batch';
import type { LegacyBatchMeta } from '../domain/blob';
import { DEAD_LETTER_COUNT, LOGIN_COUNT } from '../domain/search-attributes';
import type { BatchResult } from '../domain/types';

/**
 * An outage (Kafka, Redis) is retried until it passes; bad data never reaches here as an error.
 * The attempt's timeout is well above a batch's work and well above Redis's command timeout, so
 * that a slow dependency fails the attempt (and it is retried) before the attempt is abandoned.
 */
const BATCH_ACTIVITY_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '2 minutes',
  localRetryThreshold: '10 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: [INVALID_BATCH_INPUT, SUPERSEDED_BATCH],
  },
};

const { handleBatch } = proxyLocalActivities<BatchActivities>(BATCH_ACTIVITY_OPTIONS);

/** A batch of offset ranges, as the bridge hands them off. */
export async function processRanges(spec: BatchSpec): Promise<BatchResult> {
  const { processRanges: processRangesActivity } = proxyLocalActivities<BatchActivities>({
    ...BATCH_ACTIVITY_OPTIONS,
    startToCloseTimeout: spec.attemptTimeoutMs ?? BATCH_ACTIVITY_OPTIONS.startToCloseTimeout,
  });
  const result = await processRangesActivity(spec, spec.cutAtMs);
  reportCounts(result);
  return result;
}

/**
 * A batch of the first hand-off, whose records travel in the input (src/domain/blob.ts). Kept,
 * unchanged in what it schedules, so that such workflows started before an upgrade replay and finish.
 */
export async function processBatch(meta: LegacyBatchMeta, records: Uint8Array): Promise<BatchResult> {
  // The run's start time, not the clock: every retry judges timestamps against the same "now".
  const result = await handleBatch(meta, records, workflowInfo().runStartTime.getTime());
  reportCounts(result);
  return result;
}

function reportCounts(result: BatchResult): void {
  upsertSearchAttributes([
    { key: LOGIN_COUNT, value: result.logins },
    { key: DEAD_LETTER_COUNT, value: result.deadLetters },
  ]);
}
