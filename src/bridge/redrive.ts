/**
 * A batch workflow that ends other than completed (failed, terminated, timed out, cancelled) is
 * started again under the next id of its chain, with the same input: `…#redrive-1`, `-2`, `-3`,
 * then `…#dead-letter`, whose records not yet published become dead letters saying why. The same
 * batch id and lane keep every chunk's Redis marker and Kafka mark, so a re-drive publishes and
 * counts only what no earlier run did. Ids are deterministic: the bridge that owns the lane and
 * any bridge sweeping for orphans (src/bridge/reconciler.ts) start the same next run at most once.
 *
 * A batch whose partition was recreated since it was cut (SupersededBatch) is not re-driven: its
 * records are gone with the old topic.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { SUPERSEDED_BATCH, type BatchSpec } from '../domain/batch';
import { startBatch, type BatchHandle, type HandOffTarget } from './handoff';

export const MAX_REDRIVES = 3;
const REDRIVE = /#redrive-(\d+)$/;
const DEAD_LETTER = '#dead-letter';

/** The id of the run after `workflowId` in its chain, or undefined after the dead-letter run. */
export function nextInChain(workflowId: string): string | undefined {
  if (workflowId.endsWith(DEAD_LETTER)) return undefined;
  const match = REDRIVE.exec(workflowId);
  const step = match ? Number(match[1]) : 0;
  const original = match ? workflowId.slice(0, match.index) : workflowId;
  return step >= MAX_REDRIVES ? `${original}${DEAD_LETTER}` : `${original}#redrive-${step + 1}`;
}

/** Why a batch run ended: one sentence, and whether it may be re-driven. */
export function failureOf(err: unknown): { sentence: string; redrivable: boolean } {
  const cause = err instanceof WorkflowFailedError ? err.cause : err;
  const sentence = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  const superseded = cause instanceof ApplicationFailure && cause.type === SUPERSEDED_BATCH;
  return { sentence, redrivable: !superseded };
}

/** Starts the next run of the chain after `failedWorkflowId`, or finds it started; undefined at the chain's end. */
export async function redrive(target: HandOffTarget, failedWorkflowId: string, spec: BatchSpec, failure: string): Promise<{ workflowId: string; handle: BatchHandle } | undefined> {
  const next = nextInChain(failedWorkflowId);
  if (next === undefined) return undefined;
  const input: BatchSpec = next.endsWith(DEAD_LETTER)
    ? { ...spec, deadLetter: { error: `Its batch did not complete after ${MAX_REDRIVES + 1} runs (the last: ${failure.slice(0, 200)}).` } }
    : spec;
  try {
    return { workflowId: next, handle: await startBatch(target, input, next) };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { workflowId: next, handle: target.client.workflow.getHandle(next) };
  }
}

/** The input a batch workflow was started with, read from its history. */
export async function batchSpecOf(client: Client, workflowId: string): Promise<BatchSpec> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  const [spec] = payloads.map((p) => client.options.loadedDataConverter.payloadConverter.fromPayload<BatchSpec>(p));
  if (!spec) throw new Error(`Workflow ${workflowId} has no input in its history.`);
  return spec;
}
