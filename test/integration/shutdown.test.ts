/**
 * Graceful shutdown: SIGTERM lets the work under way finish within a bound and commits; nothing
 * is lost or repeated across the restart. A second signal exits at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { formatAccounting } from '../helpers/accounting';
import { PipelineHarness } from '../helpers/pipeline';
import { DUPLICATE_SIGNAL_WINDOW_MS } from '../../src/process/signals';
import { ChildService } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

async function underLoad(harness: PipelineHarness): Promise<ChildService> {
  await harness.setup();
  await harness.startAll();
  const generator = new ChildService('generator', harness.t.env, `${harness.t.id}-generator`, ['--count', '5000', '--rate', '1000', '--invalid-ratio', '0.02']);
  harness.extra.push(generator);
  await generator.start();
  await waitFor(() => harness.logins().length >= 1500, { timeoutMs: 60_000, message: '1500 logins before the stop' });
  return generator;
}

async function stopsGracefully(service: ChildService, boundMs: number, line: string): Promise<number> {
  const started = Date.now();
  const code = await service.stop('SIGTERM', boundMs);
  assert.equal(code, 0, `${service.name} exits 0 on SIGTERM:\n${service.tail()}`);
  assert.match(service.logText(), new RegExp(line));
  return Date.now() - started;
}

describe('graceful shutdown', function () {
  it('the bridge finishes its hand-offs, commits and leaves on SIGTERM; its restart repeats nothing', async () => {
    const harness = new PipelineHarness('stop-bridge', { BATCH_MAX_RECORDS: '100' }, 2);
    try {
      const generator = await underLoad(harness);
      const ms = await stopsGracefully(harness.bridge, 25_000, 'Bridge stopped');
      assert.doesNotMatch(harness.bridge.logText(), /did not stop in time/);
      await harness.bridge.start();
      assert.equal(await generator.waitForExit(), 0);
      const accounting = await harness.waitForAllAccounted();
      assert.deepEqual(accounting.lost, []);
      assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
      console.log(`      bridge stopped in ${ms} ms`);
    } finally {
      await harness.close();
    }
  });

  it('the worker finishes the batches under way on SIGTERM; nothing lost, nothing counted twice', async () => {
    const harness = new PipelineHarness('stop-worker', { BATCH_MAX_RECORDS: '100' }, 2);
    try {
      const generator = await underLoad(harness);
      const ms = await stopsGracefully(harness.worker, 40_000, 'Worker stopped');
      await harness.worker.start();
      assert.equal(await generator.waitForExit(), 0);
      const accounting = await harness.waitForAllAccounted();
      assert.deepEqual(accounting.lost, []);
      assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
      await harness.waitForRedisExact();
      console.log(`      worker stopped in ${ms} ms`);
    } finally {
      await harness.close();
    }
  });

  it('exits at once on a deliberate second SIGINT, even while the first stop is still under way', async () => {
    // The real signal handling of every entry point, with a stop that never finishes.
    const script = `require(${JSON.stringify(require.resolve('../../src/process/signals'))}).onShutdownSignals(
      { info: (_, m) => console.log(m), warn() {}, error() {} }, () => new Promise(() => {}));
      console.log('ready'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await waitFor(() => output.includes('ready'), { timeoutMs: 10_000, message: 'the child to be ready' });
      const started = Date.now();
      child.kill('SIGINT');
      // Signals of one kind do not queue: the second is sent once the first has been handled.
      await waitFor(() => output.includes('Stopping gracefully'), { timeoutMs: 5_000, message: 'the graceful stop to begin' });
      // The same Ctrl-C, delivered twice (terminal and npm), is not a second request...
      child.kill('SIGINT');
      await waitFor(() => Date.now() - started > DUPLICATE_SIGNAL_WINDOW_MS + 100, { timeoutMs: 5_000, intervalMs: 50, message: 'the duplicate window to pass' });
      assert.equal(child.exitCode, null, 'a duplicate within the window does not exit');
      // ...a later one is.
      const second = Date.now();
      child.kill('SIGINT');
      assert.equal(await exit, 130);
      assert.ok(Date.now() - second < 1_000);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
