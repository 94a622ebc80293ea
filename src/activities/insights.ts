/** The summary activity: read a window of aggregates from Redis and publish it to OUTPUT_TOPIC. */
import type { Producer } from 'kafkajs';
import type { Config } from '../config';
import type { Summary } from '../domain/types';
import type { InsightsStore } from '../insights/store';
import type { WorkerMetrics } from '../metrics';

export interface InsightsActivityDeps {
  producer: Producer;
  store: InsightsStore;
  config: Pick<Config, 'kafka'>;
  metrics?: WorkerMetrics;
}

export function createInsightsActivities(deps: InsightsActivityDeps) {
  /** Summarises the last `windowSeconds` of event time up to `untilMs` and publishes it. */
  async function publishSummary(untilMs: number, windowSeconds: number): Promise<Summary> {
    const body = await deps.store.readWindowEndingAt(untilMs, windowSeconds);
    const summary: Summary = { type: 'summary', ...body };
    await deps.producer.send({
      topic: deps.config.kafka.outputTopic,
      acks: -1,
      messages: [{ key: 'summary', value: JSON.stringify(summary), headers: { type: 'summary' } }],
    });
    deps.metrics?.summaryPublished.set(Date.now() / 1000);
    return summary;
  }

  return { publishSummary };
}

export type InsightsActivities = ReturnType<typeof createInsightsActivities>;
