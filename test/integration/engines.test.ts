/**
 * The worker's engine processes (src/worker/pool.ts): an engine that dies costs its calls one
 * retriable failure, never the worker, and comes back; a signal to the worker's process group
 * (a terminal's Ctrl-C) does not reach the engines, whose work the worker drains first.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createLogger } from '../../src/log';
import { EnginePool } from '../../src/worker/pool';
import { testEnv } from '../helpers/env';
import { waitFor } from '../helpers/wait';

/** The engines this test process forked, found from outside as an operator would. */
function enginePids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,pgid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes('engine.js'))
    .map((line) => {
      assert.match(line, /--initial-old-space-size=\d+ /, 'an engine starts with an old generation sized for its batches (src/worker/pool.ts)');
      return line.trim().split(/\s+/).map(Number);
    })
    .map(([pid, pgid]) => {
      assert.equal(pgid, pid, 'an engine leads its own process group, out of reach of a Ctrl-C to the worker’s');
      return pid!;
    });
}

describe('worker engines', function () {
  it('an engine that dies fails its calls as retriable, leaves the worker running, and is started again', async () => {
    const t = testEnv('engines');
    const pool = new EnginePool(1, createLogger('worker', { log: { ...t.config.log, level: 'silent' } }));
    try {
      await pool.ready();
      const [pid] = enginePids();
      assert.ok(pid, 'one engine runs');
      process.kill(pid, 'SIGKILL');
      await waitFor(async () => (await pool.readiness()).engines === false, { timeoutMs: 10_000, message: 'the pool to see its engine gone' });
      await assert.rejects(pool.activities().publishSummary(Date.now(), 300), (err: Error) => err.name === 'EngineGoneError' && /not running|exited/.test(err.message));
      await waitFor(async () => Object.values(await pool.readiness()).every(Boolean) && enginePids().some((p) => p !== pid), {
        timeoutMs: 30_000,
        message: 'a new engine, ready',
      });
    } finally {
      await pool.close();
    }
    assert.deepEqual(enginePids(), [], 'close() stops every engine');
  });

  it("shares a bridge's lanes evenly among the engines, and says so in /metrics", async () => {
    const t = testEnv('engines-lanes');
    const pool = new EnginePool(2, createLogger('worker', { log: { ...t.config.log, level: 'silent' } }));
    const lanes = (text: string) => [...text.matchAll(/^lp_worker_engine_lanes\{engine="(\d)"\} (\d+)$/gm)].map((m) => Number(m[2]));
    try {
      await pool.ready();
      // Malformed on purpose (no cut time): each call still goes to its lane's engine, which refuses it at once.
      const call = (lane: number, seq: number) =>
        pool.activities().processRanges({ batchId: `b${lane}.${seq}`, groupId: 'g', topic: 't', ranges: [], lane: { id: `g/t/run.${lane}`, seq }, cutAtMs: 0 }, 1).catch((err: Error) => err);
      for (let seq = 1; seq <= 3; seq++) {
        const errors = await Promise.all(Array.from({ length: 8 }, (_, lane) => call(lane, seq)));
        for (const err of errors) assert.match(String(err), /malformed/);
      }
      assert.deepEqual(lanes(await pool.metrics()), [4, 4], 'eight lanes, four on each engine, after three rounds of calls');
    } finally {
      await pool.close();
    }
  });
});
