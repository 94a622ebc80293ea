/**
 * Batches whose bridge is gone cannot be re-driven by it. Every bridge therefore sweeps, at start
 * and then periodically, the batch workflows of its group and topic that ended other than
 * completed, and starts the next run of each chain that has none yet (src/bridge/redrive.ts).
 * Ids are deterministic, so bridges sweeping at once start each run at most once.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { BATCH_WORKFLOW_TYPE } from '../domain/batch';
import { BATCH_GROUP, BATCH_TOPIC, quote } from '../domain/search-attributes';
import type { Logger } from '../log';
import type { BridgeMetrics } from '../metrics';
import type { HandOffTarget } from './handoff';
import { batchSpecOf, failureOf, nextInChain, redrive } from './redrive';

const ENDED_BADLY = ['Failed', 'Terminated', 'TimedOut', 'Canceled'];

export interface ReconcilerOptions {
  target: HandOffTarget;
  groupId: string;
  topic: string;
  logger: Logger;
  metrics?: BridgeMetrics;
}

export class FailedBatchSweeper {
  /** Dead-letter runs ended by hand, said once each. */
  private readonly abandoned = new Set<string>();

  constructor(private readonly options: ReconcilerOptions) {}

  /** Starts the next run of every chain of this group and topic whose last run ended badly; returns how many it started. */
  async sweep(): Promise<number> {
    const { target, groupId, topic, logger, metrics } = this.options;
    const client = target.client;
    let started = 0;
    for await (const execution of client.workflow.list({ query: failedBatchesQuery(groupId, topic) })) {
      const next = nextInChain(execution.workflowId);
      if (next === undefined) {
        this.reportAbandoned(execution.workflowId);
        continue;
      }
      if (await exists(client, next)) continue;
      const failure = failureOf(await client.workflow.getHandle(execution.workflowId).result().catch((err: unknown) => err));
      if (!failure.redrivable) continue;
      const spec = await batchSpecOf(client, execution.workflowId);
      const run = await redrive(target, execution.workflowId, spec, failure.sentence);
      if (run) {
        started++;
        metrics?.batchesRedriven.inc();
        logger.warn({ failed: execution.workflowId, next: run.workflowId, failure: failure.sentence }, 'Re-drove a batch whose run ended other than completed');
      }
    }
    return started;
  }

  private reportAbandoned(workflowId: string): void {
    if (this.abandoned.has(workflowId)) return;
    this.abandoned.add(workflowId);
    this.options.metrics?.batchesAbandoned.inc();
    this.options.logger.error({ workflowId }, 'The dead-letter run of a batch was ended by hand: its unpublished records are neither published nor dead-lettered');
  }
}

function failedBatchesQuery(groupId: string, topic: string): string {
  const status = ENDED_BADLY.map((s) => `ExecutionStatus = '${s}'`).join(' OR ');
  return `WorkflowType = '${BATCH_WORKFLOW_TYPE}' AND ${BATCH_GROUP.name} = ${quote(groupId)} AND ${BATCH_TOPIC.name} = ${quote(topic)} AND (${status})`;
}

async function exists(client: Client, workflowId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
