/**
 * `npm run bench -- [--records N] [--json]`: a plain kafkajs passthrough and the pipeline over
 * the same input on the local stack, then produce-to-output latency at a steady rate, then the
 * peak memory of the bridge and the worker. With --json the last line is CONTRACT.md's object.
 */
import { cpus, totalmem } from 'node:os';
import { loadConfig } from '../config';
import { runBench } from '../bench/run';
import { stackUp } from '../stack/stack';
import { UsageError } from '../errors';
import { runMain } from '../process/main';
import { parseOptions } from './options';

runMain(async () => {
  const config = loadConfig();
  const opts = parseOptions(process.argv.slice(2), {
    records: 'string',
    json: 'boolean',
    partitions: 'string',
    'latency-rate': 'string',
    'latency-seconds': 'string',
    'batch-records': 'string',
    'in-flight': 'string',
    concurrency: 'string',
    'batch-bytes': 'string',
  });
  const int = (name: string, text: string | undefined, fallback: number) => {
    const n = Number(text ?? fallback);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive whole number; got "${text}".`);
    return n;
  };
  const t0 = Date.now();
  const log = (line: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  log('Bringing up the local stack…');
  await stackUp(config, () => undefined);
  // Throughput wants fewer, larger workflows than the defaults (500 records, 1 MB); fewer of them
  // at once keep the worker's memory down (see README, Benchmark).
  const env: Record<string, string> = {
    BATCH_MAX_RECORDS: String(int('batch-records', opts['batch-records'], 4000)),
    BATCH_MAX_BYTES: String(int('batch-bytes', opts['batch-bytes'], 1_500_000)),
    BRIDGE_MAX_IN_FLIGHT: String(int('in-flight', opts['in-flight'], 16)),
    WORKER_MAX_CONCURRENT_BATCHES: String(int('concurrency', opts.concurrency, 8)),
  };
  const result = await runBench({
    records: int('records', opts.records, 200_000),
    partitions: int('partitions', opts.partitions, 4),
    latencyRate: int('latency-rate', opts['latency-rate'], 2000),
    latencySeconds: int('latency-seconds', opts['latency-seconds'], 30),
    env,
    log,
  });
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
  const table = [
    '',
    `Benchmark, ${new Date().toISOString().slice(0, 10)}, ${machine}, whole stack on this machine`,
    `settings: ${Object.entries(result.settings).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    '',
    '                         records/s   p50 ms   p99 ms   peak RSS MB',
    `baseline (kafkajs loop)  ${String(result.baseline.records_per_s).padStart(9)}`,
    `pipeline                 ${String(result.pipeline.records_per_s).padStart(9)}  ${String(result.pipeline.p50_ms).padStart(7)}  ${String(result.pipeline.p99_ms).padStart(7)}   bridge ${result.pipeline.bridge_peak_rss_mb}, worker ${result.pipeline.worker_peak_rss_mb}`,
    `ratio pipeline/baseline  ${result.ratio}`,
    `records ${result.records}; duplicates ${result.pipeline.duplicates}`,
    '',
  ].join('\n');
  process.stdout.write(opts.json ? `${table}\n${JSON.stringify(result)}\n` : `${table}\n`);
});
