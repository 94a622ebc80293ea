/**
 * How much a worker runs at once: its engine processes (WORKER_PROCESSES) and its batches
 * (WORKER_MAX_CONCURRENT_BATCHES), each `auto` by default, so that a worker sized by its
 * container's CPUs needs neither set.
 */
import type { Config } from '../config';
import { usableCpus } from '../process/cpus';

/**
 * Batches at once per engine (or per worker without engines) when WORKER_MAX_CONCURRENT_BATCHES is
 * `auto`. Measured with the benchmark on two CPUs (docs/benchmark-history.md): one batch per engine
 * leaves it waiting on Kafka and Redis between chunks (27,000-31,000 records/s against
 * 36,000-47,000 with two); three or four per engine were no faster and took more memory. A worker
 * held to one CPU (no engines) moved as many records with 2 at once as with 4 or 8, in 40-60 MB less.
 */
export const BATCHES_PER_ENGINE = 2;

/** Engine processes for the worker: one per usable CPU, or none (the work in the worker itself) on one. */
export function workerEngines(worker: Pick<Config['worker'], 'processes'>, cpus: () => number = usableCpus): number {
  const processes = worker.processes === 'auto' ? cpus() : worker.processes;
  return processes > 1 ? processes : 0;
}

/** The batches a worker with `engines` engine processes runs at once: the setting, or 2 per engine. */
export function batchesAtOnce(worker: Pick<Config['worker'], 'maxConcurrentBatches'>, engines: number): number {
  if (worker.maxConcurrentBatches !== 'auto') return worker.maxConcurrentBatches;
  return BATCHES_PER_ENGINE * Math.max(1, engines);
}
