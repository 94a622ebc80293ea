/** Every workflow the worker registers. Deterministic code only: no I/O, no Node built-ins. */
export { processBatch, processRanges } from './batch';
export { summariesWorkflow, latestSummaryQuery, settingsQuery, configureSignal } from './insights';
export { replayDeadLetters, progressQuery } from './replay';
