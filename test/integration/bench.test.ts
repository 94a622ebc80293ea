/** A small run of `npm run bench`, so that it keeps working; its numbers are not asserted here. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { kafkaNamesUnder } from '../../src/bench/cleanup';
import { loadConfig } from '../../src/config';
import { testKafka } from '../helpers/kafka';

const exec = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..', '..');

describe('benchmark (small)', function () {
  it('prints the contract object as its last line', async () => {
    const { stdout, stderr } = await exec(
      process.execPath,
      ['lib/src/cli/bench.js', '--records', '5000', '--warm-up', '1000', '--rate', '500', '--steady-seconds', '3', '--wide-partitions', '8', '--flatness', '1000,3000', '--json'],
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
    );
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, any>;
    assert.equal(result.records, 5000);
    for (const key of ['records_per_s', 'p50_ms', 'p99_ms', 'peak_rss_mb']) assert.ok(result.pipeline[key] > 0, `pipeline.${key}`);
    assert.ok(result.baseline.records_per_s > 0);
    // The ratio comes from the unrounded rates, so it may differ from the rounded ones' in the last digit.
    assert.ok(Math.abs(result.ratio - result.pipeline.records_per_s / result.baseline.records_per_s) < 0.002, 'ratio is pipeline over baseline');
    assert.equal(result.pipeline.duplicates, 0);
    // Every offset of the topic, the warm-up's included, came out once; the timed figures are the load's alone.
    assert.equal(result.pipeline.lost, 0);
    assert.equal(result.settings.warm_up_records, 1000);
    const tenths = result.pipeline.tenths_s as number[];
    assert.equal(tenths.length, 10, 'when each tenth of the records was out');
    // seconds is rounded to 10 ms and the tenths to 1 ms: the last tenth may come out up to 6 ms past it.
    assert.ok(tenths.every((t, i) => t > 0 && (i === 0 || t >= tenths[i - 1]!)) && tenths[9]! <= result.pipeline.seconds + 0.01, `tenths in order, within the timed run (${result.pipeline.seconds} s): ${tenths}`);
    assert.ok(result.pipeline.later_records_per_s > 0, 'the rate after the first tenth');
    for (const phase of [result.steady, result.wide]) {
      assert.ok(phase.workflows_per_s > 0 && phase.p99_ms > 0, 'a steady phase measured');
      assert.ok(phase.kafka_ack_p99_ms >= 0 && phase.kafka_ack_max_ms >= phase.kafka_ack_p99_ms, `Kafka's acks to the load: ${phase.kafka_ack_p99_ms} / ${phase.kafka_ack_max_ms}`);
      for (const part of ['bridge', 'worker', 'total']) assert.ok(phase.cpu_cores[part] >= 0, `cpu_cores.${part}`);
    }
    assert.equal(result.wide.partitions, 8);
    // Flatness: small, large, small, each with its own worker and bridge, and every offset out once.
    const { flatness } = result;
    assert.deepEqual(flatness.runs.map((r: any) => r.records), [1000, 3000, 1000]);
    for (const run of flatness.runs) assert.ok(run.records_per_s > 0 && run.lost === 0 && run.duplicates === 0, JSON.stringify(run));
    assert.equal(flatness.small_records_per_s, Math.round((flatness.runs[0].records_per_s + flatness.runs[2].records_per_s) / 2));
    assert.equal(flatness.large_records_per_s, flatness.runs[1].records_per_s);
    assert.match(stdout, /flatness: 1000 records \d+ and \d+ records\/s/);
    assert.match(stdout, /baseline \(kafkajs loop\)/, 'and a readable table');
    const removed = /Removed run (bench-[0-9a-f]+): (\d+) topics, (\d+) consumer groups/.exec(stderr);
    assert.ok(removed, `the run removes what it made:\n${stderr}`);
    assert.ok(Number(removed[2]) >= 6 && Number(removed[3]) >= 3, removed[0]);
    assert.deepEqual(await namesStartingWith(`${removed[1]}-`), { topics: [], groups: [] }, 'none of its topics or groups is left');
  });
});

/** The topics and consumer groups whose names start with `prefix`, as the bench's clean-up finds them. */
async function namesStartingWith(prefix: string): Promise<{ topics: string[]; groups: string[] }> {
  const admin = testKafka(loadConfig()).admin();
  await admin.connect();
  try {
    return await kafkaNamesUnder(admin, prefix);
  } finally {
    await admin.disconnect();
  }
}
