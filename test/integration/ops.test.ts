/**
 * Operations: /healthz, /readyz and /metrics of the bridge and the worker, on a running pipeline,
 * and readiness that tells when a dependency is missing. Logs are JSON lines.
 */
import assert from 'node:assert/strict';
import { createGenerator } from '../../src/generator/records';
import { PipelineHarness } from '../helpers/pipeline';
import { ChildService } from '../helpers/processes';
import { sleep } from '../../src/process/wait';
import { waitFor } from '../helpers/wait';

function httpPort(service: ChildService): number {
  const match = /"port":(\d+),"msg":"Serving \/metrics/.exec(service.logText());
  assert.ok(match, `${service.name} logs its HTTP port`);
  return Number(match[1]);
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

/** A metric's value, summed over the samples that have one (the worker's processes each report their own). */
function metricValue(exposition: string, name: string, labels = ''): number {
  const values = exposition
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(labels))
    .map((l) => Number(l.split(' ').pop()))
    .filter(Number.isFinite);
  return values.length > 0 ? values.reduce((a, b) => a + b, 0) : Number.NaN;
}

describe('operations', function () {
  it('serves health, readiness and metrics from the bridge and the worker', async () => {
    const harness = new PipelineHarness('ops', { SUMMARY_INTERVAL_SECONDS: '2' }, 2);
    try {
      await harness.setup();
      await harness.startAll();
      const next = createGenerator({ invalidRatio: 0.1 });
      await harness.produce(Array.from({ length: 500 }, () => next()));
      const accounting = await harness.waitForAllAccounted();
      const workerPort = httpPort(harness.worker);
      const bridgePort = httpPort(harness.bridge);

      for (const port of [workerPort, bridgePort]) {
        assert.equal((await get(port, '/healthz')).status, 200);
        const ready = await get(port, '/readyz');
        assert.equal(ready.status, 200, ready.body);
        assert.equal(JSON.parse(ready.body).status, 'ready');
        assert.equal((await get(port, '/nope')).status, 404);
      }
      assert.deepEqual(Object.keys(JSON.parse((await get(workerPort, '/readyz')).body).checks).sort(), ['kafka', 'redis', 'temporal']);

      const worker = await waitFor(
        async () => {
          const { body } = await get(workerPort, '/metrics');
          return metricValue(body, 'lp_insights_latest_summary_age_seconds') >= 0 ? body : undefined;
        },
        { timeoutMs: 30_000, message: 'the worker to have published a summary' },
      );
      assert.equal(metricValue(worker, 'lp_worker_records_total', 'outcome="login"'), accounting.logins);
      assert.equal(metricValue(worker, 'lp_worker_records_total', 'outcome="dead_letter"'), accounting.deadLetters);
      assert.ok(metricValue(worker, 'lp_worker_dead_letters_total', 'reason="') > 0, 'dead letters by reason');
      for (const name of ['lp_worker_batch_duration_seconds_count', 'lp_worker_redis_script_duration_seconds_count', 'lp_worker_kafka_publish_duration_seconds_count']) {
        assert.ok(metricValue(worker, name) > 0, name);
      }
      assert.match(worker, /^temporal_workflow_task_execution_latency/m, "the Temporal SDK's own metrics");
      assert.match(worker, /^lp_process_resident_memory_bytes/m);

      const bridge = (await get(bridgePort, '/metrics')).body;
      assert.equal(metricValue(bridge, 'lp_bridge_records_total'), accounting.inputs);
      assert.ok(metricValue(bridge, 'lp_bridge_batches_total', 'result="started"') > 0);
      assert.equal(metricValue(bridge, 'lp_bridge_consumer_lag', 'partition="0"'), 0, 'caught up');
      assert.ok(metricValue(bridge, 'lp_bridge_batch_latency_seconds_count') > 0);
      assert.equal(metricValue(bridge, 'lp_bridge_in_flight_batches'), 0);
      assert.equal(metricValue(bridge, 'lp_bridge_paused'), 0);

      for (const line of harness.worker.logText().split('\n').filter((l) => l && !l.startsWith('---'))) {
        assert.doesNotThrow(() => JSON.parse(line), `a JSON log line: ${line.slice(0, 120)}`);
      }
    } finally {
      await harness.close();
    }
  });

  it('asks Kafka for the partitions\' ends about twice a batch while records trickle in, and waits on Kafka when idle, not every 50 ms', async () => {
    const harness = new PipelineHarness('ops-looks', {}, 2);
    const producer = harness.kafka.producer();
    try {
      await harness.setup();
      await harness.startAll();
      await producer.connect();
      const bridgePort = httpPort(harness.bridge);
      const counts = async () => {
        const { body } = await get(bridgePort, '/metrics');
        return {
          looks: metricValue(body, 'lp_bridge_looks_total'),
          waits: metricValue(body, 'lp_bridge_waits_total') || 0,
          batches: metricValue(body, 'lp_bridge_batches_total', 'result="started"') || 0,
        };
      };
      const next = createGenerator({ invalidRatio: 0 });
      // About 200 records/s for 4 s: a batch is due 200 ms (BATCH_MAX_WAIT_MS) after the bridge
      // sees its first record, long before BATCH_MAX_RECORDS could wait. Paced load,
      // not a wait for a condition.
      const trickle = async (ms: number) => {
        for (const end = Date.now() + ms; Date.now() < end; ) {
          await producer.send({ topic: harness.config.kafka.inputTopic, messages: Array.from({ length: 5 }, () => next()) });
          await sleep(25);
        }
      };
      await trickle(1_000);
      const before = await counts();
      await trickle(3_000);
      const after = await counts();
      const batches = after.batches - before.batches;
      const looksPerBatch = (after.looks - before.looks) / batches;
      // Looking every 50 ms made five or more a batch; a look that finds records and one when due make two.
      assert.ok(batches >= 5, `${batches} batches in 3 s`);
      assert.ok(looksPerBatch < 4, `${looksPerBatch.toFixed(1)} looks a batch`);
      await harness.waitForAllAccounted();

      // Idle: each look follows a wait that Kafka holds up to a second (every 50 ms made 60 in 3 s).
      const idle = await counts();
      const idleSince = Date.now();
      const waited = await waitFor(
        async () => {
          const now = await counts();
          return now.waits - idle.waits >= 3 ? now : undefined;
        },
        { timeoutMs: 30_000, message: 'the idle bridge to wait on Kafka three times' },
      );
      const looks = waited.looks - idle.looks;
      assert.ok(looks <= waited.waits - idle.waits + 2, `${looks} looks in ${waited.waits - idle.waits} waits`);
      assert.ok(looks / ((Date.now() - idleSince) / 1000) < 5, `${looks} looks in ${Date.now() - idleSince} ms`);
      // A record that comes while the bridge waits goes through as any other.
      await producer.send({ topic: harness.config.kafka.inputTopic, messages: [next()] });
      const accounting = await harness.waitForAllAccounted();
      assert.equal(accounting.duplicates, 0);
    } finally {
      await producer.disconnect().catch(() => undefined);
      await harness.close();
    }
  });

  it('is not ready while Redis is unreachable, and says which dependency is missing', async () => {
    const harness = new PipelineHarness('ops-unready', { REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      await harness.setup();
      await harness.worker.start(60_000, 'Serving /metrics');
      const port = httpPort(harness.worker);
      assert.equal((await get(port, '/healthz')).status, 200, 'alive');
      const ready = await waitFor(
        async () => {
          const answer = await get(port, '/readyz');
          return JSON.parse(answer.body).checks.kafka && JSON.parse(answer.body).checks.temporal ? answer : undefined;
        },
        { timeoutMs: 30_000, message: 'the worker to find Kafka and Temporal' },
      );
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body).checks, { temporal: true, kafka: true, redis: false });
    } finally {
      await harness.close();
    }
  });
});
