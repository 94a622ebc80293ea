/**
 * Handing a batch to Temporal, exactly once per offset (docs/design.md, "The hand-off").
 *
 * The bridge commits offsets only at batch ends, and each start is wrapped in an intent: before
 * it starts batch W it commits the batch's partitions at their current offsets with W's id in
 * the commit metadata; after the start it commits the batch's ends. A bridge that takes a
 * partition over (after a crash or a rebalance) and finds an intent resolves it against
 * Temporal, which keeps one workflow per id: if W exists it skips past W's ranges (adopts it);
 * if not, it starts W itself as a void batch, so that W can never start with the records the new
 * owner is about to hand off again. Either way every offset ends in exactly one batch.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import {
  BATCH_WORKFLOW_TYPE,
  batchWorkflowId,
  formatRanges,
  offsetCount,
  parseRanges,
  type BatchMemo,
  type BatchSpec,
} from '../domain/batch';
import { BATCH_GROUP, BATCH_TOPIC } from '../domain/search-attributes';
import type { BatchResult } from '../domain/types';

export type BatchHandle = WorkflowHandle<(spec: BatchSpec) => Promise<BatchResult>>;

export interface HandOffTarget {
  client: Client;
  taskQueue: string;
}

/** Starts a batch workflow under `workflowId` (by default the batch's own), never a second one under the same id. */
export async function startBatch(target: HandOffTarget, spec: BatchSpec, workflowId = batchWorkflowId(spec.batchId)): Promise<BatchHandle> {
  const memo: BatchMemo & { void?: boolean } = { topic: spec.topic, ranges: formatRanges(spec.ranges), offsets: offsetCount(spec.ranges), cutAtMs: spec.cutAtMs };
  if (spec.void) memo.void = true;
  return target.client.workflow.start<(spec: BatchSpec) => Promise<BatchResult>>(BATCH_WORKFLOW_TYPE, {
    workflowId,
    taskQueue: target.taskQueue,
    args: [spec],
    memo: { ...memo },
    typedSearchAttributes: [
      { key: BATCH_TOPIC, value: spec.topic },
      { key: BATCH_GROUP, value: spec.groupId },
    ],
    // Never a second workflow under one id, not even after the first completed: this is what
    // makes a resolved intent final.
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
  });
}

export type StartOutcome = { outcome: 'started'; handle: BatchHandle } | { outcome: 'voided' };

/**
 * Starts the batch, or finds it started: by an earlier try of ours whose answer was lost (then
 * it is ours), or as a void batch by a bridge that took its partitions over (then it holds none
 * of the records, and the caller hands them off again if it still owns them).
 */
export async function startOrFind(target: HandOffTarget, spec: BatchSpec): Promise<StartOutcome> {
  try {
    return { outcome: 'started', handle: await startBatch(target, spec) };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const found = await describeBatch(target.client, batchWorkflowId(spec.batchId));
    if (found.kind === 'void' || found.kind === 'missing') return { outcome: 'voided' };
    return { outcome: 'started', handle: target.client.workflow.getHandle(batchWorkflowId(spec.batchId)) };
  }
}

export type FoundBatch =
  | { kind: 'missing' }
  | { kind: 'void' }
  /** Each partition's end (exclusive) in the batch. */
  | { kind: 'batch'; ends: Map<number, bigint> };

/** What a batch workflow holds, from its memo. */
export async function describeBatch(client: Client, workflowId: string): Promise<FoundBatch> {
  try {
    const { memo } = await client.workflow.getHandle(workflowId).describe();
    if (memo?.void) return { kind: 'void' };
    const ranges = parseRanges(memo?.ranges);
    if (!ranges) throw new Error(`Workflow ${workflowId} exists but its memo does not say which offsets it holds.`);
    return { kind: 'batch', ends: new Map(ranges.map((r) => [r.partition, BigInt(r.to)])) };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { kind: 'missing' };
    throw err;
  }
}

/**
 * Resolves an intent: the ends of the batch's ranges when it was started (adopted), none when it
 * was not (it is voided now, so that it never starts).
 */
export async function resolveIntent(target: HandOffTarget, workflowId: string, context: Pick<BatchSpec, 'groupId' | 'topic'>): Promise<Map<number, bigint>> {
  const found = await describeBatch(target.client, workflowId);
  if (found.kind === 'batch') return found.ends;
  if (found.kind === 'void') return new Map();
  const batchId = workflowId.replace(/^batch\//, '');
  const voided: BatchSpec = {
    batchId,
    groupId: context.groupId,
    topic: context.topic,
    ranges: [],
    lane: { id: `${batchId}/void`, seq: 1 },
    cutAtMs: Date.now(),
    void: true,
  };
  try {
    await startBatch(target, voided, workflowId);
    return new Map();
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    // Its own bridge started it meanwhile: adopt it after all.
    return resolveIntent(target, workflowId, context);
  }
}
