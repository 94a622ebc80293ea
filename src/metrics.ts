/** Prometheus metrics of the bridge and the worker (prom-client), one registry per process. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(component: 'bridge' | 'worker' | 'dashboard'): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: 'lp_' });
  return registry;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createWorkerMetrics(registry: Registry) {
  return {
    records: new Counter({
      name: 'lp_worker_records_total',
      help: 'Input records processed by the worker, by outcome (login or dead_letter)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'lp_worker_dead_letters_total',
      help: 'Records dead-lettered, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    lateRecords: new Counter({
      name: 'lp_worker_late_records_total',
      help: 'Valid logins older than the aggregate retention: published but not aggregated',
      registers: [registry],
    }),
    batches: new Counter({
      name: 'lp_worker_batches_total',
      help: 'Batch activities completed (a retried batch counts once per completed attempt)',
      registers: [registry],
    }),
    republishSkipped: new Counter({
      name: 'lp_worker_republish_skipped_total',
      help: 'Batches found already published on a retry, and not published again',
      registers: [registry],
    }),
    batchDuration: new Histogram({
      name: 'lp_worker_batch_duration_seconds',
      help: 'Time to transform, aggregate and publish one batch',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    redisScriptDuration: new Histogram({
      name: 'lp_worker_redis_script_duration_seconds',
      help: 'Time of the exactly-once aggregate update in Redis, per batch',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    publishDuration: new Histogram({
      name: 'lp_worker_kafka_publish_duration_seconds',
      help: 'Time to publish a batch of logins and dead letters to Kafka',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    summaryPublished: new Gauge({
      name: 'lp_insights_latest_summary_timestamp_seconds',
      help: 'When this worker last published a summary (epoch seconds)',
      registers: [registry],
    }),
  };
}

/** Seconds since this worker last published a summary, computed when scraped (NaN before the first). */
export function registerSummaryAge(registry: Registry, metrics: WorkerMetrics): void {
  new Gauge({
    name: 'lp_insights_latest_summary_age_seconds',
    help: 'Seconds since this worker last published a summary',
    registers: [registry],
    async collect() {
      const published = (await metrics.summaryPublished.get()).values[0]?.value;
      this.set(published ? Date.now() / 1000 - published : Number.NaN);
    },
  });
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

export function createBridgeMetrics(registry: Registry) {
  return {
    records: new Counter({
      name: 'lp_bridge_records_total',
      help: 'Input records handed to Temporal (in batches started or found already started)',
      registers: [registry],
    }),
    batches: new Counter({
      name: 'lp_bridge_batches_total',
      help: 'Batches handed off, by result: started, or adopted (already started by an earlier run)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'lp_bridge_in_flight_batches',
      help: 'Batch workflows started and not yet completed',
      registers: [registry],
    }),
    paused: new Gauge({
      name: 'lp_bridge_paused',
      help: '1 while the bridge pauses its partitions because the workers are behind',
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'lp_bridge_consumer_lag',
      help: 'Records in the input partition after the last committed offset',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
    }),
    handOffDuration: new Histogram({
      name: 'lp_bridge_handoff_duration_seconds',
      help: 'Time to start one batch workflow (or find it started)',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    batchLatency: new Histogram({
      name: 'lp_bridge_batch_latency_seconds',
      help: 'Time from a batch workflow start to its completion',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    commits: new Counter({
      name: 'lp_bridge_commits_total',
      help: 'Offset commits sent to Kafka',
      registers: [registry],
    }),
    batchFailures: new Counter({
      name: 'lp_bridge_batch_failures_total',
      help: 'Batch workflows that ended other than completed (failed, terminated, timed out): need an operator',
      registers: [registry],
    }),
  };
}

export type BridgeMetrics = ReturnType<typeof createBridgeMetrics>;
