/**
 * Records waiting when the bridge takes its partitions were written before it looked, so they are
 * handed off at once: a restart does not hold a backlog smaller than a batch for another
 * BATCH_MAX_WAIT_MS.
 */
import assert from 'node:assert/strict';
import { PipelineHarness } from '../helpers/pipeline';

/** BATCH_MAX_WAIT_MS at its largest. */
const WAIT_MS = 60_000;

describe('a backlog found when the bridge starts', function () {
  this.timeout(2 * WAIT_MS);
  const harness = new PipelineHarness('backlog', { BATCH_MAX_WAIT_MS: String(WAIT_MS) }, 2);

  after(() => harness.close());

  it('is handed off at once, though smaller than a batch and BATCH_MAX_WAIT_MS away from due', async () => {
    await harness.setup();
    const nowS = Math.floor(Date.now() / 1000);
    await harness.produce(Array.from({ length: 30 }, (_, i) => ({ key: `u${i}`, value: JSON.stringify({ user_id: `u${i}`, app_version: '2.3.0', timestamp: nowS }) })));
    await harness.startAll();
    // A quarter of the wait: a batch cut only once the wait ran out would come far too late.
    const accounting = await harness.waitForAllAccounted(WAIT_MS / 4);
    assert.equal(accounting.duplicates, 0);
    assert.equal(harness.logins().length, 30);
  });
});
