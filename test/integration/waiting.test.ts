/**
 * The worker, the bridge and the dashboard started before the services they need: each says in
 * one sentence which one does not answer and where, /readyz names it, and once it answers the
 * process goes on without a restart. A wrong password is not waited for: the process stops and
 * says so (test/integration/security.test.ts).
 */
import assert from 'node:assert/strict';
import { DedicatedService } from '../helpers/dedicated';
import { PipelineHarness } from '../helpers/pipeline';
import { readiness, type ChildService } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

const sentences = (service: ChildService, label: string) => service.logText().split('\n').filter((l) => l.includes(`${label} does not answer at`));

describe('services started before the stack', function () {
  this.timeout(240_000);

  it('the worker names the missing Redis once, is not ready, and runs as soon as Redis answers', async () => {
    const redis = new DedicatedService('redis', 'waiting-redis', 17379);
    const harness = new PipelineHarness('waiting-worker', redis.env);
    try {
      await redis.stop();
      await harness.setup();
      await harness.worker.start(60_000, 'Serving /metrics');
      await harness.worker.waitForLog('Redis does not answer at 127.0.0.1:17379: start the local stack with `npm run stack:up`');
      const unready = await waitFor(async () => {
        const r = await readiness(harness.worker);
        return r.checks.kafka && r.checks.temporal ? r : undefined;
      }, { timeoutMs: 30_000, message: 'the worker to find Kafka and Temporal' });
      assert.equal(unready.status, 503);
      assert.deepEqual(unready.checks, { kafka: true, temporal: true, redis: false });
      await redis.start();
      await harness.worker.waitForLog('Worker running', 60_000);
      assert.equal((await readiness(harness.worker)).status, 200);
      assert.equal(sentences(harness.worker, 'Redis').length, 1, 'one sentence, not one per retry');
      assert.doesNotMatch(harness.worker.logText(), /"level":50/, 'nothing at error level');
    } finally {
      await harness.close();
      await redis.stop();
    }
  });

  it('the bridge and the dashboard name the missing Kafka, and go on once it answers', async () => {
    const kafka = new DedicatedService('kafka', 'waiting-kafka', 18092);
    kafka.wipe();
    const harness = new PipelineHarness('waiting-bridge', { ...kafka.env, DASHBOARD_PORT: '0' });
    const dashboard = harness.spawn('dashboard', 'dashboard');
    try {
      await Promise.all([harness.bridge.start(60_000, 'Serving /metrics'), dashboard.start()]);
      for (const service of [harness.bridge, dashboard]) {
        await service.waitForLog('Kafka does not answer at 127.0.0.1:18092: start the local stack');
        const { status, checks } = await readiness(service);
        assert.equal(status, 503);
        assert.equal(checks.kafka, false, `${service.name} names Kafka`);
      }
      await kafka.start();
      await harness.bridge.waitForLog('Bridge running', 90_000);
      await harness.setup();
      await harness.worker.start();
      await harness.produce([{ key: 'k', value: JSON.stringify({ user_id: 'u', app_version: '2.3.0', timestamp: Math.floor(Date.now() / 1000) }) }]);
      const accounting = await harness.waitForAllAccounted(60_000);
      assert.equal(accounting.logins, 1);
      await waitFor(async () => (await readiness(dashboard)).status === 200, { timeoutMs: 30_000, message: 'the dashboard to be ready' });
      for (const service of [harness.bridge, dashboard]) assert.equal(sentences(service, 'Kafka').length, 1, `${service.name}: one sentence`);
    } finally {
      await harness.close();
      await kafka.stop();
    }
  });
});
