import { WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Logger } from '../log';
import { configureSignal, insightsWorkflow, settingsQuery, type InsightsSettings } from '../workflows/insights';

/**
 * Starts the singleton insights workflow when it is not running; when it is, and runs with other
 * settings than this worker's, tells it the new ones.
 */
export async function ensureInsightsWorkflow(client: Client, config: Config, logger: Logger): Promise<void> {
  const settings: InsightsSettings = { intervalSeconds: config.summary.intervalSeconds, windowSeconds: config.summary.windowSeconds };
  const handle = await client.workflow.start(insightsWorkflow, {
    workflowId: config.temporal.insightsWorkflowId,
    taskQueue: config.temporal.taskQueue,
    args: [{ settings }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
  });
  const current = await handle.query(settingsQuery);
  if (current.intervalSeconds !== settings.intervalSeconds || current.windowSeconds !== settings.windowSeconds) {
    await handle.signal(configureSignal, settings);
    logger.info({ from: current, to: settings }, 'Reconfigured the insights workflow');
  }
  logger.info({ workflowId: handle.workflowId }, 'Insights workflow running');
}
