import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { waitFor } from '../helpers/wait';

const CHILD = join(__dirname, '..', 'helpers', 'watchdog-child.js');

function start(mode: string): { child: ChildProcess; stdout: Promise<string>; stderr: () => string } {
  const child = spawn(process.execPath, [CHILD, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const stdout = new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code, signal) => reject(new Error(`child exited (${signal ?? code}) before it said it was ready: ${err}`)));
  });
  return { child, stdout, stderr: () => err };
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('watchdog', function () {
  this.timeout(30_000);
  const started: ChildProcess[] = [];
  const strays: number[] = [];
  afterEach(() => {
    for (const c of started.splice(0)) c.kill('SIGKILL');
    for (const pid of strays.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('kills a process whose event loop no longer turns, saying why on stderr', async () => {
    const run = start('spin');
    started.push(run.child);
    await run.stdout;
    const end = await Promise.race([exited(run.child), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the stuck child still runs after 15 s')), 15_000))]);
    assert.equal(end.signal, 'SIGKILL');
    assert.match(run.stderr(), /test child: its event loop has not turned for 0\.5 s/);
  });

  it('leaves a process alone whose loop turns between synchronous slices, and one stopped and resumed', async () => {
    const run = start('busy');
    started.push(run.child);
    await run.stdout;
    // Stopped for four times the stall limit: both threads stop, and the thread counts wake-ups, not time.
    run.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await waitFor(() => Date.now() - stoppedAt >= 2_000 || undefined, { timeoutMs: 5_000, intervalMs: 100, message: 'two seconds to pass' });
    run.child.kill('SIGCONT');
    // Five stall limits of busy slices after the resume.
    const resumedAt = Date.now();
    await waitFor(() => run.child.exitCode !== null || run.child.signalCode !== null || Date.now() - resumedAt >= 2_500 || undefined, { timeoutMs: 10_000, intervalMs: 100, message: 'the child to run on' });
    assert.equal(run.child.signalCode, null, `killed: ${run.stderr()}`);
    run.child.kill('SIGTERM');
    assert.deepEqual(await exited(run.child), { code: 0, signal: null });
    assert.equal(run.stderr(), '');
  });

  it("kills a child process whose parent is gone while the child's own loop is stuck", async () => {
    const parent = start('parent');
    started.push(parent.child);
    const orphan = Number(await parent.stdout);
    strays.push(orphan);
    assert.ok(alive(orphan));
    parent.child.kill('SIGKILL');
    await exited(parent.child);
    await waitFor(() => !alive(orphan) || undefined, { timeoutMs: 15_000, intervalMs: 50, message: 'the orphan to be killed' });
    assert.match(parent.stderr(), /test orphan: its parent \(pid \d+\) is gone and it did not exit; killing it\./);
  });
});
