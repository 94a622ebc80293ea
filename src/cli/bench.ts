/**
 * `npm run bench -- [--records N] [--warm-up N] [--flatness SMALL,LARGE|none] [--json] [--cluster]`: a
 * plain kafkajs passthrough and the pipeline over the same input on the local stack, then two
 * steady phases (latency, CPU per component, workflows per second on 4 and on 32 partitions), then
 * the pipeline alone at 100,000, 1,000,000 and 100,000 records (flatness with size; `--flatness`
 * changes the sizes, `none` leaves the phase out), with the product's defaults. With
 * --json the last line is the contract's object, with more fields. `--set NAME=VALUE` (repeatable)
 * changes a setting of the bridge and the worker, for experiments; the figures in the README use
 * none. `--cluster` runs it all on the cluster profile (three brokers, Redis Cluster, Temporal's
 * server on PostgreSQL), brought up as `npm run stack:up -- --cluster` does. `--warm-up N` runs
 * N records through the baseline and the worker before either is timed (see BenchOptions).
 */
import { cpus, totalmem } from 'node:os';
import { loadConfig } from '../config';
import { UsageError } from '../errors';
import type { Flatness } from '../bench/measure';
import { runBench, type SteadyResult } from '../bench/run';
import { runMain } from '../process/main';
import { clusterEnvironment, clusterLayout, clusterUp } from '../stack/cluster';
import { stackUp } from '../stack/stack';
import { parseOptions } from './options';

runMain(async () => {
  const config = loadConfig();
  const argv = process.argv.slice(2);
  const settings = takeSettings(argv);
  const opts = parseOptions(argv, {
    records: 'string',
    'warm-up': 'string',
    json: 'boolean',
    partitions: 'string',
    rate: 'string',
    'steady-seconds': 'string',
    'wide-partitions': 'string',
    cluster: 'boolean',
    flatness: 'string',
  });
  const int = (name: string, text: string | undefined, fallback: number, least = 1) => {
    const n = Number(text ?? fallback);
    if (!Number.isInteger(n) || n < least) throw new UsageError(`--${name} must be a whole number, ${least} or more; got "${text}".`);
    return n;
  };
  const t0 = Date.now();
  const log = (line: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  const cluster = opts.cluster === true;
  log(cluster ? 'Bringing up the cluster profile…' : 'Bringing up the local stack…');
  if (cluster) await clusterUp(config, () => undefined);
  else await stackUp(config, () => undefined);
  const result = await runBench({
    records: int('records', opts.records, 200_000),
    warmUp: int('warm-up', opts['warm-up'], 0, 0),
    partitions: int('partitions', opts.partitions, 4),
    rate: int('rate', opts.rate, 2000),
    steadySeconds: int('steady-seconds', opts['steady-seconds'], 30),
    widePartitions: int('wide-partitions', opts['wide-partitions'], 32),
    flatness: flatnessSizes(opts.flatness, int),
    // The cluster's addresses first, so that --set can still change any of them.
    env: cluster ? { ...clusterEnvironment(config), ...settings } : settings,
    temporalProc: cluster ? clusterLayout(config).temporal : undefined,
    log,
  });
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
  const steady = (s: SteadyResult) =>
    `${String(s.partitions).padStart(3)} partitions  p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms (Kafka's acks to the load: p99 ${s.kafka_ack_p99_ms} ms), ${s.workflows_per_s} workflows/s, ` +
    `CPU cores: bridge ${s.cpu_cores.bridge}, worker ${s.cpu_cores.worker}, Temporal ${s.cpu_cores.temporal ?? 'n/a'}, together ${s.cpu_cores.total}`;
  const table = [
    '',
    `Benchmark, ${new Date().toISOString().slice(0, 10)}, ${machine}, whole ${cluster ? 'cluster profile (3 Kafka brokers, Redis Cluster, Temporal server on PostgreSQL)' : 'stack'} on this machine`,
    `settings: ${Object.entries(result.settings).map(([k, v]) => `${k}=${v}`).join(' ')}${Object.keys(settings).length ? ` (changed: ${Object.keys(settings).join(', ')})` : ''}`,
    '',
    `                         records/s   peak RSS MB`,
    `baseline (kafkajs loop)  ${String(result.baseline.records_per_s).padStart(9)}`,
    `pipeline                 ${String(result.pipeline.records_per_s).padStart(9)}   bridge ${result.pipeline.bridge_peak_rss_mb}, worker ${result.pipeline.worker_peak_rss_mb}`,
    `ratio pipeline/baseline  ${result.ratio}`,
    `records ${result.records}; lost ${result.pipeline.lost}; duplicates ${result.pipeline.duplicates}`,
    `pipeline: each tenth out by ${result.pipeline.tenths_s.join(', ')} s after the join; ${result.pipeline.later_records_per_s ?? '-'} records/s after the first tenth`,
    '',
    `steady ${result.steady.rate} records/s:`,
    `  ${steady(result.steady)}`,
    `  ${steady(result.wide)}`,
    ...(result.flatness ? ['', flatnessLine(result.flatness)] : []),
    '',
  ].join('\n');
  process.stdout.write(opts.json ? `${table}\n${JSON.stringify(result)}\n` : `${table}\n`);
});

/** `--flatness SMALL,LARGE`: the two sizes; `none`: no flatness phase. */
function flatnessSizes(text: string | undefined, int: (name: string, text: string | undefined, fallback: number) => number): [number, number] | null {
  if (text === 'none') return null;
  const sizes = (text ?? '100000,1000000').split(',');
  if (sizes.length !== 2) throw new UsageError(`--flatness takes two sizes, SMALL,LARGE (e.g. 100000,1000000), or none; got "${text}".`);
  return [int('flatness', sizes[0], 0), int('flatness', sizes[1], 0)];
}

function flatnessLine(f: Flatness): string {
  const [before, large, after] = f.runs;
  return (
    `flatness: ${before!.records} records ${before!.records_per_s} and ${after!.records_per_s} records/s (before and after), ` +
    `${large!.records} records ${large!.records_per_s} records/s: ratio ${f.ratio}; lost ${f.runs.reduce((n, r) => n + r.lost, 0)}, duplicates ${f.runs.reduce((n, r) => n + r.duplicates, 0)}`
  );
}

/** `--set NAME=VALUE` options, taken out of argv. */
function takeSettings(argv: string[]): Record<string, string> {
  const settings: Record<string, string> = {};
  for (let i = argv.indexOf('--set'); i >= 0; i = argv.indexOf('--set')) {
    const [name, value] = (argv[i + 1] ?? '').split(/=(.*)/s);
    if (!name || value === undefined) throw new UsageError('--set needs NAME=VALUE, e.g. --set BATCH_MAX_RECORDS=20000.');
    settings[name] = value;
    argv.splice(i, 2);
  }
  return settings;
}
