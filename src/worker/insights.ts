import { WorkflowIdConflictPolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Logger } from '../log';
import { configureSignal, settingsQuery, summariesWorkflow, type InsightsSettings } from '../workflows/insights';

/**
 * Starts the singleton insights workflow when it is not running; when it is, and runs with other
 * settings than this worker's, tells it the new ones. A run of the earlier workflow type (ticks
 * not aligned to the interval) is replaced: its code is no longer registered.
 */
export async function ensureInsightsWorkflow(client: Client, config: Config, logger: Logger): Promise<void> {
  const settings: InsightsSettings = {
    intervalSeconds: config.summary.intervalSeconds,
    windowSeconds: config.summary.windowSeconds,
    catchUpSeconds: config.aggregates.retentionSeconds,
  };
  await replaceEarlierType(client, config.temporal.insightsWorkflowId, logger);
  const handle = await client.workflow.start(summariesWorkflow, {
    workflowId: config.temporal.insightsWorkflowId,
    taskQueue: config.temporal.taskQueue,
    args: [{ settings }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
  });
  const current = await handle.query(settingsQuery);
  if (current.intervalSeconds !== settings.intervalSeconds || current.windowSeconds !== settings.windowSeconds || current.catchUpSeconds !== settings.catchUpSeconds) {
    await handle.signal(configureSignal, settings);
    logger.info({ from: current, to: settings }, 'Reconfigured the insights workflow');
  }
  logger.info({ workflowId: handle.workflowId }, 'Insights workflow running');
}

async function replaceEarlierType(client: Client, workflowId: string, logger: Logger): Promise<void> {
  try {
    const handle = client.workflow.getHandle(workflowId);
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING' || description.type === summariesWorkflow.name) return;
    await handle.terminate(`replaced by a ${summariesWorkflow.name} workflow (summaries at aligned ticks)`);
    logger.info({ workflowId, type: description.type }, 'Replaced an insights workflow of an earlier type');
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}
