/**
 * One batch of input records: a single local activity transforms, aggregates and publishes it.
 * Local, because the batch then never travels through the server a second time (the input is
 * in the start event already), and the whole workflow completes in one workflow task.
 */
import { proxyLocalActivities, upsertSearchAttributes, workflowInfo, type LocalActivityOptions } from '@temporalio/workflow';
import type { BatchActivities } from '../activities/batch';
import { DEAD_LETTER_COUNT, LOGIN_COUNT } from '../domain/search-attributes';
import type { BatchMeta, BatchResult } from '../domain/types';

/** An outage (Kafka, Redis) is retried until it passes; bad data never reaches here as an error. */
const BATCH_ACTIVITY_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '2 minutes',
  localRetryThreshold: '10 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['InvalidBatchInput'],
  },
};

const { handleBatch } = proxyLocalActivities<BatchActivities>(BATCH_ACTIVITY_OPTIONS);

/** `records` is the batch's records as one opaque blob: the workflow hands it on unparsed. */
export async function processBatch(meta: BatchMeta, records: Uint8Array): Promise<BatchResult> {
  // The run's start time, not the clock: every retry judges timestamps against the same "now".
  const result = await handleBatch(meta, records, workflowInfo().runStartTime.getTime());
  upsertSearchAttributes([
    { key: LOGIN_COUNT, value: result.logins },
    { key: DEAD_LETTER_COUNT, value: result.deadLetters },
  ]);
  return result;
}
