/** The summary activity: read a window of aggregates from Redis and publish it to OUTPUT_TOPIC. */
import type { Producer } from 'kafkajs';
import type { Config } from '../config';
import type { Summary } from '../domain/types';
import type { InsightsStore } from '../insights/store';
import type { WorkerMetrics } from '../metrics';

export interface InsightsActivityDeps {
  producer: Producer;
  store: InsightsStore;
  config: Pick<Config, 'kafka' | 'aggregates'>;
  metrics?: WorkerMetrics;
}

export function createInsightsActivities(deps: InsightsActivityDeps) {
  /**
   * Summarises the last `windowSeconds` of event time up to `untilMs` and publishes it. The
   * window ends at the end of the bucket holding `untilMs`, so it includes the current minute.
   */
  async function publishSummary(untilMs: number, windowSeconds: number): Promise<Summary> {
    const bucketMs = deps.config.aggregates.bucketSeconds * 1000;
    const endMs = Math.ceil(untilMs / bucketMs) * bucketMs;
    const body = await deps.store.readWindow(endMs - windowSeconds * 1000, endMs);
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
