/**
 * The summary activity: read one window of aggregates from Redis and publish it to OUTPUT_TOPIC,
 * once per tick. The insights workflow's ticks are aligned to SUMMARY_INTERVAL_SECONDS; each
 * summary is published in a Kafka transaction that moves the summaries' mark to its tick
 * (src/clients/transactions.ts), so a retry, a crash after the send or a second worker never
 * publishes a tick twice. The header `summary.tick` names the tick.
 */
import type { LaneTransactions } from '../clients/transactions';
import type { Config } from '../config';
import type { Summary } from '../domain/types';
import type { InsightsStore } from '../insights/store';
import type { WorkerMetrics } from '../metrics';

export interface InsightsActivityDeps {
  transactions: LaneTransactions;
  store: InsightsStore;
  config: Pick<Config, 'kafka' | 'temporal'>;
  metrics?: WorkerMetrics;
}

/** The lane of the summaries of one insights workflow: its transactional id and mark group. */
export function summariesLaneId(config: Pick<Config, 'kafka' | 'temporal'>): string {
  return `${config.temporal.insightsWorkflowId}/${config.kafka.outputTopic}/summaries`;
}

export function createInsightsActivities(deps: InsightsActivityDeps) {
  /** Summarises the `windowSeconds` ending with the bucket of `tickMs` and publishes it, unless this tick was published already. */
  async function publishSummary(tickMs: number, windowSeconds: number): Promise<Summary> {
    const body = await deps.store.readWindowEndingAt(tickMs, windowSeconds);
    const summary: Summary = { type: 'summary', ...body };
    const tick = new Date(tickMs).toISOString();
    const lease = deps.transactions.lease(summariesLaneId(deps.config));
    try {
      const outcome = await lease.publishOnce(deps.config.kafka.outputTopic, BigInt(Math.floor(tickMs / 1000)), [
        {
          topic: deps.config.kafka.outputTopic,
          message: { key: 'summary', value: JSON.stringify(summary), headers: { type: 'summary', 'summary.tick': tick } },
          size: 4096,
          offset: tick,
        },
      ]);
      if (outcome === 'published') deps.metrics?.summaryPublished.set(Date.now() / 1000);
    } finally {
      lease.release();
    }
    return summary;
  }

  return { publishSummary };
}

export type InsightsActivities = ReturnType<typeof createInsightsActivities>;
