/**
 * The loop behind every periodic task: a run may say how long to pause before the next one (the
 * bridge's tick does, while a batch is not yet due); otherwise the interval applies.
 */
import assert from 'node:assert/strict';
import { repeat } from '../../src/process/repeat';
import { waitUntil } from '../../src/process/wait';

describe('repeating a task', () => {
  it('pauses for what a run returns, and for the interval when it returns nothing', async () => {
    const stop = new AbortController();
    let runs = 0;
    const pauses: (number | undefined)[] = [0, 0, 0, undefined];
    const done = repeat(async () => pauses[runs++], { intervalMs: 60_000, signal: stop.signal });
    try {
      // Three runs return 0: the fourth comes at once, though the interval is a minute.
      await waitUntil(() => runs >= 4 || undefined, { timeoutMs: 5_000, intervalMs: 5, message: 'four runs' });
      assert.equal(runs, 4, 'the fourth returned nothing: the minute applies');
    } finally {
      stop.abort();
      await done;
    }
  });
});
