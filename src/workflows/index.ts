/** Every workflow the worker registers. Deterministic code only: no I/O, no Node built-ins. */
export { processBatch } from './batch';
export { insightsWorkflow, latestSummaryQuery, settingsQuery, configureSignal } from './insights';
