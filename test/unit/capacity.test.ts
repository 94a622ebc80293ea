/**
 * How much a worker runs at once (src/worker/capacity.ts): engines by usable CPUs, batches two per
 * engine unless WORKER_MAX_CONCURRENT_BATCHES says otherwise, both from the environment as parsed.
 */
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config';
import { batchesAtOnce, BATCHES_PER_ENGINE, workerEngines } from '../../src/worker/capacity';

const worker = (env: Record<string, string> = {}) => loadConfig(env).worker;

describe('what a worker runs at once', () => {
  it('runs one engine per usable CPU, and none (the work in the worker itself) on one CPU', () => {
    assert.equal(workerEngines(worker(), () => 8), 8);
    assert.equal(workerEngines(worker(), () => 2), 2);
    assert.equal(workerEngines(worker(), () => 1), 0);
    assert.equal(workerEngines(worker({ WORKER_PROCESSES: '3' }), () => 64), 3);
    assert.equal(workerEngines(worker({ WORKER_PROCESSES: '1' }), () => 64), 0);
  });

  it('runs two batches per engine by default, so that a larger machine uses every engine', () => {
    assert.equal(worker().maxConcurrentBatches, 'auto');
    assert.equal(BATCHES_PER_ENGINE, 2);
    // Two CPUs, the benchmark's machine: the 4 measured there.
    assert.equal(batchesAtOnce(worker(), 2), 4);
    assert.equal(batchesAtOnce(worker(), 8), 16);
    // A one-CPU container, no engines: two in the worker process.
    assert.equal(batchesAtOnce(worker(), 0), 2);
  });

  it('runs what WORKER_MAX_CONCURRENT_BATCHES sets, whatever the engines', () => {
    assert.equal(batchesAtOnce(worker({ WORKER_MAX_CONCURRENT_BATCHES: '8' }), 2), 8);
    assert.equal(batchesAtOnce(worker({ WORKER_MAX_CONCURRENT_BATCHES: '1' }), 16), 1);
  });

  it('names the setting when it is neither auto nor a positive number', () => {
    assert.throws(() => worker({ WORKER_MAX_CONCURRENT_BATCHES: 'many' }), /WORKER_MAX_CONCURRENT_BATCHES/);
    assert.throws(() => worker({ WORKER_MAX_CONCURRENT_BATCHES: '0' }), /WORKER_MAX_CONCURRENT_BATCHES/);
  });
});
