/**
 * An outage is retried, never dead-lettered: Kafka (a broker of this test's own) is killed in
 * the middle of a run and started again; every record still comes out once, as a login.
 */
import assert from 'node:assert/strict';
import { createGenerator } from '../../src/generator/records';
import { formatAccounting } from '../helpers/accounting';
import { DedicatedService } from '../helpers/dedicated';
import { PipelineHarness } from '../helpers/pipeline';
import { readiness } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

const warningsSince = (text: string, mark: number) =>
  text
    .slice(mark)
    .split('\n')
    .filter((line) => /"level":(40|50)/.test(line));

describe('Kafka outage mid-run', function () {
  const kafka = new DedicatedService('kafka', 'kafka-outage', 19092);

  before(() => kafka.start());
  after(() => kafka.stop());

  it('retries through the outage: nothing lost, nothing dead-lettered, Redis exact', async () => {
    const harness = new PipelineHarness('kafka-outage', { ...kafka.env, BATCH_MAX_RECORDS: '50', BRIDGE_MAX_IN_FLIGHT: '4' });
    try {
      await harness.setup();
      const next = createGenerator();
      await harness.produce(Array.from({ length: 8000 }, () => next()));
      await harness.startAll();
      await waitFor(() => harness.logins().length >= 1000, { timeoutMs: 60_000, message: '1000 logins before the outage' });

      const workerMark = harness.worker.logText().length;
      const bridgeMark = harness.bridge.logText().length;
      await kafka.kill();
      // The outage lasts until both processes have noticed it.
      await waitFor(() => warningsSince(harness.worker.logText(), workerMark).length > 0 && warningsSince(harness.bridge.logText(), bridgeMark).length > 0, {
        timeoutMs: 60_000,
        message: 'the worker and the bridge to report the outage',
      });
      // Noticed by the worker's own watch, not only by a batch that happened to be under way.
      await harness.worker.waitForLog('Kafka does not answer at 127.0.0.1:19092', 30_000);
      await waitFor(async () => (await readiness(harness.worker)).checks.kafka === false, { timeoutMs: 30_000, message: "the worker's /readyz to report Kafka missing" });
      await kafka.start();
      await harness.worker.waitForLog('Kafka answers again at 127.0.0.1:19092', 60_000);

      const accounting = await harness.waitForAllAccounted(180_000);
      assert.equal(accounting.inputs, 8000);
      assert.deepEqual(accounting.lost, [], formatAccounting(accounting));
      assert.equal(accounting.deadLetters, 0, 'an outage is never dead-lettered');
      assert.deepEqual(accounting.conflicting, []);
      await harness.waitForRedisExact();
      assert.equal(harness.worker.running && harness.bridge.running, true, 'neither process died of the outage');
      console.log(`      Kafka killed mid-run: ${formatAccounting(accounting)}`);
    } finally {
      await harness.close();
    }
  });
});
