/**
 * The insights workflow (one per namespace, ID INSIGHTS_WORKFLOW_ID): every interval it has an
 * activity read the last window from Redis and publish the summary; it answers `latestSummary`
 * and continues as new before its history grows large.
 */
import { condition, continueAsNew, defineQuery, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { InsightsActivities } from '../activities/insights';
import type { Summary } from '../domain/types';

export interface InsightsSettings {
  intervalSeconds: number;
  windowSeconds: number;
  /** Summaries before the workflow continues as new (keeps its history small). */
  summariesPerRun?: number;
}

export interface InsightsState {
  settings: InsightsSettings;
  latest?: Summary;
}

export const latestSummaryQuery = defineQuery<Summary | null>('latestSummary');
export const settingsQuery = defineQuery<InsightsSettings>('settings');
/** Sent by a worker whose SUMMARY_* settings differ from the running workflow's. */
export const configureSignal = defineSignal<[InsightsSettings]>('configure');

const { publishSummary } = proxyActivities<InsightsActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

const DEFAULT_SUMMARIES_PER_RUN = 200;

export async function insightsWorkflow(state: InsightsState): Promise<void> {
  let { settings, latest } = state;
  let reconfigured = false;
  setHandler(latestSummaryQuery, () => latest ?? null);
  setHandler(settingsQuery, () => settings);
  setHandler(configureSignal, (next) => {
    settings = next;
    reconfigured = true;
  });
  const perRun = settings.summariesPerRun ?? DEFAULT_SUMMARIES_PER_RUN;
  for (let published = 0; published < perRun && !workflowInfo().continueAsNewSuggested; published++) {
    if (latest !== undefined) {
      // Wake early on a new configuration, so that a shorter interval applies at once.
      await condition(() => reconfigured, settings.intervalSeconds * 1000);
      reconfigured = false;
    }
    latest = await publishSummary(Date.now(), settings.windowSeconds);
  }
  await continueAsNew<typeof insightsWorkflow>({ settings, latest });
}
