/**
 * The benchmark: the same generated input through a plain kafkajs passthrough (baseline) and
 * through the pipeline (bridge + worker, Temporal, Redis), on the local stack, in one run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners, type Kafka, type Message } from 'kafkajs';
import { createKafka } from '../clients/kafka';
import { deadLetterTopicLimit, ensureTopics } from '../clients/topics';
import { createRedis } from '../clients/redis';
import { loadConfig, type Config, type Environment } from '../config';
import { isolatedEnvironment, serviceEnvironment } from '../process/environment';
import { transformRecord } from '../domain/transform';
import { createGenerator } from '../generator/records';
import { createInsightsStore, type InsightsStore } from '../insights/store';
import { runBaseline } from './baseline';

export interface BenchOptions {
  records: number;
  partitions: number;
  latencyRate: number;
  latencySeconds: number;
  /** Extra environment for the bridge and the worker (e.g. BATCH_MAX_RECORDS). */
  env: Environment;
  log: (line: string) => void;
}

export interface BenchResult {
  records: number;
  pipeline: {
    records_per_s: number;
    seconds: number;
    p50_ms: number;
    p99_ms: number;
    peak_rss_mb: number;
    bridge_peak_rss_mb: number;
    worker_peak_rss_mb: number;
    duplicates: number;
  };
  baseline: { records_per_s: number; seconds: number };
  ratio: number;
  settings: Record<string, string | number>;
}

const ROOT = resolve(__dirname, '..', '..', '..');

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const id = `bench-${randomBytes(3).toString('hex')}`;
  const env: Environment = {
    ...isolatedEnvironment(id),
    // One summary at start, then none during the measurement.
    SUMMARY_INTERVAL_SECONDS: '86400',
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'warn',
    ...options.env,
  };
  const config = loadConfig({ ...process.env, ...env });
  const kafka = createKafka(config.kafka);
  const { log } = options;
  await ensureTopics(kafka, [config.kafka.inputTopic], options.partitions);
  const dlqLimit = await deadLetterTopicLimit(kafka, config.kafka.inputTopic);
  const dlqs = [config.kafka.dlqTopic, `${id}-baseline-dlq`].map((topic) => ({ topic, maxMessageBytes: dlqLimit }));
  await ensureTopics(kafka, [config.kafka.outputTopic, `${id}-baseline-out`, ...dlqs], options.partitions);

  log(`Producing ${options.records} generator records (5% without device_type, 1% invalid) to ${config.kafka.inputTopic}…`);
  const expected = await produceLoad(kafka, config.kafka.inputTopic, options.records);

  log('Baseline: kafkajs consume → transform → produce…');
  const baseline = await runBaseline(kafka, { input: config.kafka.inputTopic, output: `${id}-baseline-out`, dlq: `${id}-baseline-dlq` }, options.records);
  log(`  ${Math.round(baseline.records / baseline.seconds)} records/s (${baseline.seconds.toFixed(1)} s)`);

  log('Pipeline: bridge + worker, until every input is out and aggregated…');
  const childEnv = serviceEnvironment(env);
  const worker = launch('lib/src/worker/main.js', childEnv);
  const redis = createRedis(config.redis);
  const store = createInsightsStore(redis, config);
  let bridge: ChildProcess | undefined;
  try {
    await waitForSummary(kafka, config.kafka.outputTopic, worker);
    bridge = launch('lib/src/bridge/main.js', childEnv);
    // Timed, as the baseline is, from the moment the consumer has joined its group.
    const started = await groupJoined(kafka, config.kafka.groupId, bridge);
    await waitForOutputs(kafka, config, store, expected, [worker, bridge], started);
    const seconds = (Date.now() - started) / 1000;
    const duplicates = (await highWatermark(kafka, config.kafka.outputTopic)) - 1 - expected.logins + (await highWatermark(kafka, config.kafka.dlqTopic)) - expected.deadLetters;
    log(`  ${Math.round(options.records / seconds)} records/s (${seconds.toFixed(1)} s), duplicates ${duplicates}`);

    log(`Latency: ${options.latencyRate} records/s for ${options.latencySeconds} s…`);
    const latency = await measureLatency(kafka, config, options, [worker, bridge]);
    log(`  p50 ${latency.p50.toFixed(0)} ms, p99 ${latency.p99.toFixed(0)} ms over ${latency.samples} records`);

    const bridgeRss = peakRssMb(bridge.pid!);
    const workerRss = peakRssMb(worker.pid!);
    const recordsPerS = options.records / seconds;
    const baselinePerS = baseline.records / baseline.seconds;
    return {
      records: options.records,
      pipeline: {
        records_per_s: Math.round(recordsPerS),
        seconds: round(seconds, 2),
        p50_ms: round(latency.p50, 1),
        p99_ms: round(latency.p99, 1),
        peak_rss_mb: round(Math.max(bridgeRss, workerRss), 1),
        bridge_peak_rss_mb: round(bridgeRss, 1),
        worker_peak_rss_mb: round(workerRss, 1),
        duplicates,
      },
      baseline: { records_per_s: Math.round(baselinePerS), seconds: round(baseline.seconds, 2) },
      ratio: round(recordsPerS / baselinePerS, 3),
      settings: {
        partitions: options.partitions,
        batch_max_records: config.batch.maxRecords,
        batch_max_bytes: config.batch.maxBytes,
        batch_max_wait_ms: config.batch.maxWaitMs,
        bridge_max_in_flight: config.batch.maxInFlight,
        worker_max_concurrent_batches: config.worker.maxConcurrentBatches,
      },
    };
  } finally {
    await stopChild(bridge);
    await stopChild(worker);
    redis.disconnect();
  }
}

interface Expected {
  logins: number;
  deadLetters: number;
}

/** Produces generator records as fast as the broker takes them; returns what the rules make of them. */
async function produceLoad(kafka: Kafka, topic: string, count: number): Promise<Expected> {
  const next = createGenerator({ invalidRatio: 0.01, missingDeviceTypeRatio: 0.05 });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const expected: Expected = { logins: 0, deadLetters: 0 };
  const nowMs = Date.now();
  const source = { topic, partition: 0, offset: '0' };
  const pending: Promise<unknown>[] = [];
  for (let sent = 0; sent < count; ) {
    const n = Math.min(1000, count - sent);
    const messages: Message[] = [];
    for (let i = 0; i < n; i++) {
      const { key, value } = next();
      if (transformRecord(Buffer.from(value), { source, batchId: '', nowMs }).ok) expected.logins++;
      else expected.deadLetters++;
      messages.push({ key, value });
    }
    pending.push(producer.send({ topic, acks: -1, messages }));
    if (pending.length >= 8) await Promise.all(pending.splice(0));
    sent += n;
  }
  await Promise.all(pending);
  await producer.disconnect();
  return expected;
}

function launch(entry: string, env: Environment): ChildProcess {
  const child = spawn(process.execPath, [resolve(ROOT, entry)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  return child;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, unrefSleep(30_000).then(() => child.kill('SIGKILL'))]);
}

function assertAlive(children: ChildProcess[]): void {
  for (const c of children) if (c.exitCode !== null) throw new Error(`a pipeline process exited with code ${c.exitCode} during the benchmark`);
}

async function highWatermark(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** The worker is ready once its insights workflow published the first summary. */
async function waitForSummary(kafka: Kafka, topic: string, worker: ChildProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await highWatermark(kafka, topic)) < 1) {
    assertAlive([worker]);
    if (Date.now() > deadline) throw new Error('the worker did not start within 120 s');
    await sleep(200);
  }
}

async function groupJoined(kafka: Kafka, groupId: string, bridge: ChildProcess): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      assertAlive([bridge]);
      const { groups } = await admin.describeGroups([groupId]);
      if (groups[0]?.state === 'Stable' && groups[0].members.length > 0) return Date.now();
      if (Date.now() > deadline) throw new Error('the bridge did not join its consumer group within 120 s');
      await sleep(20);
    }
  } finally {
    await admin.disconnect();
  }
}

async function waitForOutputs(kafka: Kafka, config: Config, store: InsightsStore, expected: Expected, children: ChildProcess[], since: number): Promise<void> {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    assertAlive(children);
    const out = (await highWatermark(kafka, config.kafka.outputTopic)) - 1;
    const dlq = await highWatermark(kafka, config.kafka.dlqTopic);
    if (out >= expected.logins && dlq >= expected.deadLetters) {
      const counted = (await store.readWindow(since - 3_600_000, Date.now() + 3_600_000)).totals.logins;
      if (counted >= expected.logins) return;
    }
    if (Date.now() > deadline) throw new Error(`the pipeline did not finish within 30 min (out ${out}, dlq ${dlq})`);
    await sleep(100);
  }
}

/** Produce-to-output latency: the input record's and the output record's Kafka timestamps. */
async function measureLatency(
  kafka: Kafka,
  config: Config,
  options: BenchOptions,
  children: ChildProcess[],
): Promise<{ p50: number; p99: number; samples: number }> {
  const startOffsets = {
    out: await partitionHighs(kafka, config.kafka.outputTopic),
    dlq: await partitionHighs(kafka, config.kafka.dlqTopic),
    input: await partitionHighs(kafka, config.kafka.inputTopic),
  };
  const next = createGenerator({ invalidRatio: 0.01 });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const total = options.latencyRate * options.latencySeconds;
  const perTick = Math.max(1, Math.round(options.latencyRate / 100));
  const started = Date.now();
  const expected: Expected = { logins: 0, deadLetters: 0 };
  const source = { topic: '', partition: 0, offset: '0' };
  for (let sent = 0; sent < total; sent += perTick) {
    const messages = Array.from({ length: Math.min(perTick, total - sent) }, () => {
      const r = next();
      if (transformRecord(Buffer.from(r.value), { source, batchId: '', nowMs: Date.now() }).ok) expected.logins++;
      else expected.deadLetters++;
      return { key: r.key, value: r.value };
    });
    // Not awaited: a steady rate means not waiting for the broker between ticks.
    void producer.send({ topic: config.kafka.inputTopic, acks: 1, messages });
    const wait = started + ((sent + perTick) / options.latencyRate) * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
  }
  await producer.disconnect();
  const targetOut = sum(startOffsets.out) + expected.logins;
  const targetDlq = sum(startOffsets.dlq) + expected.deadLetters;
  const deadline = Date.now() + 120_000;
  while ((await highWatermark(kafka, config.kafka.outputTopic)) < targetOut || (await highWatermark(kafka, config.kafka.dlqTopic)) < targetDlq) {
    assertAlive(children);
    if (Date.now() > deadline) throw new Error('latency phase: outputs did not all arrive within 120 s');
    await sleep(200);
  }
  const [inputTimes, outputTimes, dlqTimes] = await Promise.all([
    readTimestamps(kafka, config.kafka.inputTopic, startOffsets.input, total, (m, p) => `${p}:${m.offset}`),
    readTimestamps(kafka, config.kafka.outputTopic, startOffsets.out, expected.logins, (m) => {
      const body = JSON.parse(m.value!.toString()) as { type: string; source?: { partition: number; offset: string } };
      return body.type === 'login' ? `${body.source!.partition}:${body.source!.offset}` : undefined;
    }),
    readTimestamps(kafka, config.kafka.dlqTopic, startOffsets.dlq, expected.deadLetters, (m) =>
      `${m.headers?.['dlq.source.partition']?.toString()}:${m.headers?.['dlq.source.offset']?.toString()}`,
    ),
  ]);
  const latencies: number[] = [];
  for (const [key, produced] of inputTimes) {
    const out = outputTimes.get(key) ?? dlqTimes.get(key);
    if (out !== undefined) latencies.push(out - produced);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), samples: latencies.length };
}

async function partitionHighs(kafka: Kafka, topic: string): Promise<number[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition).map((p) => Number(p.high));
  } finally {
    await admin.disconnect();
  }
}

/** Reads `count` records from the given start offsets; maps a key of each to its Kafka timestamp. */
async function readTimestamps(
  kafka: Kafka,
  topic: string,
  from: number[],
  count: number,
  keyOf: (m: { offset: string; value: Buffer | null; headers?: Record<string, unknown> }, partition: number) => string | undefined,
): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  if (count === 0) return times;
  // A fresh group whose committed offsets are set first, so that reading starts exactly there.
  const groupId = `bench-reader-${randomBytes(4).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.setOffsets({ groupId, topic, partitions: from.map((offset, partition) => ({ partition, offset: String(offset) })) });
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic });
  let seen = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        seen++;
        const key = keyOf(m as never, batch.partition);
        if (key !== undefined) times.set(key, Number(m.timestamp));
      }
      if (seen >= count) done();
    },
  });
  await Promise.race([finished, unrefSleep(120_000)]);
  await consumer.disconnect();
  return times;
}

/** The kernel's record of the most memory the process ever held resident. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** A deadline for a race: it does not keep the process alive once the race is won. */
function unrefSleep(ms: number): Promise<void> {
  return sleep(ms, undefined, { ref: false });
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function round(n: number, digits: number): number {
  return Number(n.toFixed(digits));
}
