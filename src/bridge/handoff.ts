/**
 * The durable hand-off of one batch to Temporal.
 *
 * A batch workflow's ID holds its first offset only (src/domain/batch.ts) and IDs are never
 * reused. After a crash the bridge re-reads from the last committed offset, which is always the
 * end of a batch it handed off, so its next batch starts where an earlier run's batch started;
 * only where that batch ends may differ. Starting it then fails with "already started", and the
 * existing workflow's memo says how far it reaches: the bridge skips to just after that
 * (`coveredThrough`) and starts the rest as new batches. Every offset ends in exactly one
 * workflow, whatever the boundaries of either run.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type Client, type WorkflowHandle } from '@temporalio/client';
import { batchId, batchWorkflowId, type BatchMemo } from '../domain/batch';
import { BATCH_PARTITION, BATCH_TOPIC } from '../domain/search-attributes';
import { encodeRecords, RECORDS_ENCODING } from '../domain/blob';
import type { BatchInput, BatchMeta, BatchRecord } from '../domain/types';
import type { processBatch } from '../workflows/batch';

export interface HandOffResult {
  outcome: 'started' | 'adopted';
  /** The last offset the workflow holds: every offset up to it is durably in Temporal. */
  coveredThrough: bigint;
  handle: WorkflowHandle<typeof processBatch>;
  workflowId: string;
}

export class BatchMemoMissingError extends Error {
  override name = 'BatchMemoMissingError';
}

export interface HandOffTarget {
  client: Client;
  groupId: string;
  taskQueue: string;
}

export function buildBatch(groupId: string, topic: string, partition: number, records: BatchRecord[]): BatchInput {
  const firstOffset = records[0]!.offset;
  return {
    batchId: batchId(groupId, topic, partition, firstOffset),
    topic,
    partition,
    firstOffset,
    lastOffset: records[records.length - 1]!.offset,
    count: records.length,
    encoding: RECORDS_ENCODING,
    records,
  };
}

function metaOf({ records: _records, ...meta }: BatchInput): BatchMeta {
  return meta;
}

/** Starts the batch's workflow, or adopts the one an earlier run started at the same first offset. */
export async function handOff(target: HandOffTarget, batch: BatchInput): Promise<HandOffResult> {
  const workflowId = batchWorkflowId(batch.batchId);
  const memo: BatchMemo = {
    topic: batch.topic,
    partition: batch.partition,
    firstOffset: batch.firstOffset,
    lastOffset: batch.lastOffset,
    records: batch.records.length,
  };
  try {
    const handle = await target.client.workflow.start<typeof processBatch>('processBatch', {
      workflowId,
      taskQueue: target.taskQueue,
      args: [metaOf(batch), await encodeRecords(batch.records)],
      memo: { ...memo },
      typedSearchAttributes: [
        { key: BATCH_TOPIC, value: batch.topic },
        { key: BATCH_PARTITION, value: batch.partition },
      ],
      // Never start a second workflow for a first offset, not even after the first completed.
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
    return { outcome: 'started', coveredThrough: BigInt(batch.lastOffset), handle, workflowId };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const handle = target.client.workflow.getHandle<typeof processBatch>(workflowId);
    const existing = (await handle.describe()).memo as Partial<BatchMemo> | undefined;
    if (typeof existing?.lastOffset !== 'string') {
      throw new BatchMemoMissingError(`Workflow ${workflowId} exists but its memo has no lastOffset; cannot tell which offsets it holds.`);
    }
    return { outcome: 'adopted', coveredThrough: BigInt(existing.lastOffset), handle, workflowId };
  }
}
