/**
 * The insights workflow (one per namespace, ID INSIGHTS_WORKFLOW_ID). Its ticks fall on
 * multiples of SUMMARY_INTERVAL_SECONDS (epoch-aligned, so the period does not drift by the time
 * each summary takes); at each tick an activity reads the window from Redis and publishes the
 * summary, once per tick. Ticks missed while no worker ran are published when one returns, in
 * order, as far back as the aggregates are kept. It answers `latestSummary` and continues as new
 * before its history grows large. (Its type was `insightsWorkflow` while ticks were not aligned;
 * a worker replaces a run of that type with one of this: src/worker/insights.ts.)
 */
import { condition, continueAsNew, defineQuery, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { InsightsActivities } from '../activities/insights';
import type { Summary } from '../domain/types';

export interface InsightsSettings {
  intervalSeconds: number;
  windowSeconds: number;
  /** How far back missed ticks are still published: the aggregates' retention. */
  catchUpSeconds?: number;
  /** Summaries before the workflow continues as new (keeps its history small). */
  summariesPerRun?: number;
}

export interface InsightsState {
  settings: InsightsSettings;
  latest?: Summary;
  /** The next tick to publish (epoch ms); earlier ones were published. */
  nextTickMs?: number;
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

export async function summariesWorkflow(state: InsightsState): Promise<void> {
  let { settings, latest } = state;
  let reconfigured = false;
  setHandler(latestSummaryQuery, () => latest ?? null);
  setHandler(settingsQuery, () => settings);
  setHandler(configureSignal, (next) => {
    settings = next;
    reconfigured = true;
  });
  const intervalMs = () => settings.intervalSeconds * 1000;
  let next = state.nextTickMs ?? tickAfter(Date.now(), intervalMs());
  const perRun = settings.summariesPerRun ?? DEFAULT_SUMMARIES_PER_RUN;
  for (let published = 0; published < perRun && !workflowInfo().continueAsNewSuggested; ) {
    if (Date.now() < next) {
      // Wake early on a new configuration, so that a shorter interval applies at once.
      if (await condition(() => reconfigured, next - Date.now())) {
        reconfigured = false;
        next = Math.min(next, tickAfter(Date.now(), intervalMs()));
        continue;
      }
    }
    next = Math.max(next, oldestTickKept(settings));
    latest = await publishSummary(next, settings.windowSeconds);
    published++;
    next += intervalMs();
  }
  await continueAsNew<typeof summariesWorkflow>({ settings, latest, nextTickMs: next });
}

/** The first multiple of the interval after `nowMs`. */
function tickAfter(nowMs: number, intervalMs: number): number {
  return (Math.floor(nowMs / intervalMs) + 1) * intervalMs;
}

/** Ticks older than the aggregates' retention would summarise nothing: they are skipped. */
function oldestTickKept(settings: InsightsSettings): number {
  if (!settings.catchUpSeconds) return 0;
  const intervalMs = settings.intervalSeconds * 1000;
  return Math.ceil((Date.now() - settings.catchUpSeconds * 1000) / intervalMs) * intervalMs;
}
