/** Prometheus metrics of the bridge and the worker (prom-client), one registry per process. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * A process's registry, with Node's own metrics (CPU, memory, event loop) under `lp_`; a worker's
 * engines (src/worker/engine.ts) put theirs under `lp_engine_`, summed over the engines by the
 * worker that serves them.
 */
export function createRegistry(component: 'bridge' | 'worker' | 'dashboard', options: { processMetricsPrefix?: string } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: options.processMetricsPrefix ?? 'lp_' });
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
    chunksAlreadyPublished: new Counter({
      name: 'lp_worker_chunks_already_published_total',
      help: 'Chunks of a batch that a retry found published by an earlier attempt (the lane mark), and did not publish again',
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
    replayedLogins: new Counter({
      name: 'lp_worker_replayed_logins_total',
      help: 'Dead letters published as logins by replays (npm run dlq -- replay), counted when their transaction committed',
      registers: [registry],
    }),
    summaryPublished: new Gauge({
      name: 'lp_insights_latest_summary_timestamp_seconds',
      help: 'When this worker last published a summary (epoch seconds)',
      registers: [registry],
      // Over a worker's engines: the latest.
      aggregator: 'max',
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
      help: 'Input offsets handed to Temporal in batches this bridge started',
      registers: [registry],
    }),
    batches: new Counter({
      name: 'lp_bridge_batches_total',
      help: 'Batches by result: started; adopted (an intent found its batch started); voided (an intent found none, so its id was voided)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'lp_bridge_in_flight_batches',
      help: 'Lanes with a batch workflow started and not yet completed',
      registers: [registry],
    }),
    paused: new Gauge({
      name: 'lp_bridge_paused',
      help: '1 while records wait in Kafka because every lane has a batch in flight (the workers are behind)',
      registers: [registry],
    }),
    breakerOpen: new Gauge({
      name: 'lp_bridge_breaker_open',
      help: '1 while the circuit breaker holds the input paused (too many dead letters, DLQ_MAX_RATIO): records wait in Kafka until resumed',
      registers: [registry],
    }),
    breakerTrips: new Counter({
      name: 'lp_bridge_breaker_trips_total',
      help: 'Times the circuit breaker paused the input',
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'lp_bridge_consumer_lag',
      help: 'Offsets of the input partition not yet handed off (its last stable offset minus the next to hand off)',
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
    looks: new Counter({
      name: 'lp_bridge_looks_total',
      help: "Times the bridge asked Kafka for its partitions' ends (ListOffsets): 10-50 ms after a batch; while records wait, when their batch is due or could be full; when idle, after each wait",
      registers: [registry],
    }),
    waits: new Counter({
      name: 'lp_bridge_waits_total',
      help: 'Times the idle bridge waited on Kafka for new records (a fetch the broker holds up to a second) instead of looking again',
      registers: [registry],
    }),
    commits: new Counter({
      name: 'lp_bridge_commits_total',
      help: 'Offset commits sent to Kafka',
      registers: [registry],
    }),
    batchFailures: new Counter({
      name: 'lp_bridge_batch_failures_total',
      help: 'Runs of this bridge\'s batches that ended other than completed (failed, terminated, timed out, cancelled)',
      registers: [registry],
    }),
    batchesRedriven: new Counter({
      name: 'lp_bridge_batches_redriven_total',
      help: 'Batch runs started again after a run ended other than completed (the last of a chain dead-letters what is left)',
      registers: [registry],
    }),
    batchesSuperseded: new Counter({
      name: 'lp_bridge_batches_superseded_total',
      help: 'Batches whose partition was recreated or reset since they were cut: not re-driven',
      registers: [registry],
    }),
    batchesAbandoned: new Counter({
      name: 'lp_bridge_batches_abandoned_total',
      help: 'Dead-letter runs ended by hand: their unpublished records need an operator',
      registers: [registry],
    }),
  };
}

export type BridgeMetrics = ReturnType<typeof createBridgeMetrics>;
