/**
 * The benchmark: the same generated input through a plain kafkajs passthrough (baseline) and
 * through the pipeline (bridge + worker, Temporal, Redis), on the local stack, in one run, with
 * the product's own defaults. Then two steady phases at a given rate: on the 4-partition input
 * (latency, the CPU each component spends, workflows per second) and on a 32-partition input
 * (workflows per second do not grow with partitions). Then whether throughput is flat with input
 * size: the pipeline alone at a small size, a large one, and the small one again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Partitioners, type Kafka, type Message } from 'kafkajs';
import { createKafka } from '../clients/kafka';
import { installRequestQueueFix } from '../clients/kafkajs-request-queue';
import { createRedis } from '../clients/redis';
import { deadLetterTopicLimit, ensureTopics } from '../clients/topics';
import { loadConfig, type Config, type Environment } from '../config';
import { transformRecord } from '../domain/transform';
import { createGenerator } from '../generator/records';
import { createInsightsStore, type InsightsStore } from '../insights/store';
import { isolatedEnvironment, serviceEnvironment } from '../process/environment';
import { sleep, waitUntil, withDeadline } from '../process/wait';
import { runningPid, type ManagedProcess } from '../stack/proc';
import { stackLayout } from '../stack/layout';
import { batchesAtOnce, workerEngines } from '../worker/capacity';
import { runBaseline } from './baseline';
import { removeRun } from './cleanup';
import { cpuSeconds, flatnessOf, laterRate, peakRssMb, percentile, round, tenthsOut, type Flatness, type SizeRun } from './measure';
import { inputTimes, OutputIndex } from './outputs';

export interface BenchOptions {
  records: number;
  /**
   * Records to run through the baseline and the pipeline before either is timed, on the same topic
   * and consumer groups (0: none, as by default). The baseline's process and the pipeline's worker
   * are then warm, as in a service that has been running, and a new bridge takes the timed load, as
   * after a restart of the bridge; the default run shows a cold start.
   */
  warmUp: number;
  partitions: number;
  /** The steady phases' rate, records/s. */
  rate: number;
  /** How long each steady phase produces. */
  steadySeconds: number;
  /** The partitions of the wide steady phase's input. */
  widePartitions: number;
  /**
   * The flatness phase's sizes, small and large (null: no such phase). Each run is the pipeline
   * alone on its own new input, worker and bridge, timed as the throughput phase is.
   */
  flatness: [small: number, large: number] | null;
  /** Extra environment for the bridge and the worker; empty by default: the product's defaults are measured. */
  env: Environment;
  /** The Temporal server whose CPU the steady phases count (the single-node stack's by default). */
  temporalProc?: ManagedProcess;
  log: (line: string) => void;
}

export interface SteadyResult {
  partitions: number;
  rate: number;
  records: number;
  p50_ms: number;
  p99_ms: number;
  workflows_per_s: number;
  /**
   * How long Kafka took to acknowledge the benchmark's own sends of the phase (acks 1), p99 and
   * worst: the latencies above start at a record's creation, so they include Kafka's intake.
   */
  kafka_ack_p99_ms: number;
  kafka_ack_max_ms: number;
  /** Cores used during the phase, read from /proc; temporal is null when the stack was not started by us. */
  cpu_cores: { bridge: number; worker: number; temporal: number | null; total: number };
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
    lost: number;
    duplicates: number;
    /** Seconds from the join until 10%, 20%, ... 100% of the records were out (see tenthsOut). */
    tenths_s: number[];
    /** Records per second over the last nine tenths: the rate once the start is paid for. */
    later_records_per_s: number | null;
  };
  baseline: { records_per_s: number; seconds: number };
  ratio: number;
  steady: SteadyResult;
  wide: SteadyResult;
  flatness: Flatness | null;
  settings: Record<string, string | number>;
}

const ROOT = resolve(__dirname, '..', '..', '..');

interface Expected {
  logins: number;
  deadLetters: number;
}

interface Service {
  child: ChildProcess;
  /** The port its /metrics answer on. */
  port: Promise<number>;
  running: Promise<void>;
  /** Rejects when the process exits. */
  exited: Promise<never>;
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const id = `bench-${randomBytes(3).toString('hex')}`;
  const result = await runThroughputAndSteady(options, id);
  // After the first phases' processes have stopped: each size runs on a machine as quiet as the first.
  const flatness = options.flatness ? await measureFlatness(options, id, options.flatness) : null;
  return { ...result, flatness };
}

/** A run's services' environment: the run's own topics, group, task queue and Redis prefix. */
function benchEnvironment(id: string, overrides: Environment): Environment {
  return {
    ...isolatedEnvironment(id),
    // No summary while measuring: the first tick at the next midnight UTC.
    SUMMARY_INTERVAL_SECONDS: '86400',
    SUMMARY_WINDOW_SECONDS: '86400',
    LOG_FORMAT: 'json',
    // Info: the services say when they run; they log nothing per record or per batch.
    LOG_LEVEL: 'info',
    ...overrides,
  };
}

async function runThroughputAndSteady(options: BenchOptions, id: string): Promise<Omit<BenchResult, 'flatness'>> {
  const { log } = options;
  const { env, config, kafka, childEnv, redis, store } = await openRun(options, id, `${id}-baseline`);
  const wideTopic = `${id}-wide-in`;
  await ensureTopics(kafka, [wideTopic], options.widePartitions);

  const topic = config.kafka.inputTopic;
  const baselineNames = { input: topic, output: `${id}-baseline-out`, dlq: `${id}-baseline-dlq`, groupId: `${id}-baseline-group` };
  const services: Service[] = [];
  let outputs: OutputIndex | undefined;
  const loadStartedAt = Date.now();
  try {
    let worker: Service | undefined;
    let warm: Expected = { logins: 0, deadLetters: 0 };
    if (options.warmUp > 0) {
      // As a service that has been running on this topic would be: the baseline's group and the
      // pipeline's have read these records, and the worker stays; a new bridge takes the load.
      log(`Warming up, untimed, on ${options.warmUp} records of the same topic: the baseline, then the worker with a bridge that then stops…`);
      warm = await produceLoad(kafka, topic, options.warmUp);
      await runBaseline(kafka, baselineNames, options.warmUp);
      worker = await startWorker(childEnv, services);
      await runBridgeUntil(childEnv, () => countedInRedis(store, warm, loadStartedAt, services), services);
    }
    const timedFrom = await partitionEnds(kafka, topic);

    log(`Producing ${options.records} generator records (5% without device_type, 1% invalid) to ${topic}…`);
    const expected = await produceLoad(kafka, topic, options.records);

    log('Baseline: kafkajs consume → transform → produce…');
    const baseline = await runBaseline(kafka, baselineNames, options.records);
    // The baseline ran kafkajs as published; the benchmark's own clients (group checks, the output
    // index) now stop spinning kafkajs's idle timers on the cores the pipeline is measured on.
    installRequestQueueFix();
    log(`  ${Math.round(baseline.records / baseline.seconds)} records/s (${baseline.seconds.toFixed(1)} s)`);

    log('Pipeline: bridge + worker, until every input is out and aggregated…');
    worker ??= await startWorker(childEnv, services);
    const timed = await timePipeline(kafka, config, { childEnv, store, expected: sum(expected, warm), loadStartedAt, timedFrom, services });
    const { bridge, index, seconds, check, tenths, later } = timed;
    outputs = index;
    log(`  ${Math.round(options.records / seconds)} records/s (${seconds.toFixed(1)} s); lost ${check.lost}, duplicates ${check.duplicates}`);
    log(`  each tenth out by ${tenths.join(', ')} s; ${later ?? '-'} records/s after the first tenth`);

    log(`Steady: ${options.rate} records/s for ${options.steadySeconds} s on ${options.partitions} partitions…`);
    const steady = await steadyPhase(kafka, config, config.kafka.inputTopic, options, { bridge, worker, services, outputs: index });
    log(`  p50 ${steady.p50_ms} ms, p99 ${steady.p99_ms} ms (Kafka's acks to the load: p99 ${steady.kafka_ack_p99_ms} ms), ${steady.workflows_per_s} workflows/s, CPU ${JSON.stringify(steady.cpu_cores)}`);

    log(`Steady: ${options.rate} records/s for ${options.steadySeconds} s on ${options.widePartitions} partitions…`);
    const wideGroup = `${id}-wide-group`;
    const wideBridge = launch('lib/src/bridge/main.js', serviceEnvironment({ ...env, INPUT_TOPIC: wideTopic, KAFKA_GROUP_ID: wideGroup }), 'Bridge running');
    services.push(wideBridge);
    await alive(wideBridge.running, services);
    // A steady state: records come once the bridge owns its partitions ("Bridge running" comes
    // before its group's first join, which the first records waited for, up to a second).
    await groupJoined(kafka, wideGroup, services);
    const wide = await steadyPhase(kafka, config, wideTopic, { ...options, partitions: options.widePartitions }, { bridge: wideBridge, worker, services, outputs: index });
    log(`  p50 ${wide.p50_ms} ms, p99 ${wide.p99_ms} ms (Kafka's acks to the load: p99 ${wide.kafka_ack_p99_ms} ms), ${wide.workflows_per_s} workflows/s`);

    const bridgeRss = Math.max(peakRssMb(bridge.child.pid!), peakRssMb(wideBridge.child.pid!));
    const workerRss = peakRssMb(worker.child.pid!);
    const recordsPerS = options.records / seconds;
    const baselinePerS = baseline.records / baseline.seconds;
    return {
      records: options.records,
      pipeline: {
        records_per_s: Math.round(recordsPerS),
        seconds: round(seconds, 2),
        p50_ms: steady.p50_ms,
        p99_ms: steady.p99_ms,
        peak_rss_mb: round(Math.max(bridgeRss, workerRss), 1),
        bridge_peak_rss_mb: round(bridgeRss, 1),
        worker_peak_rss_mb: round(workerRss, 1),
        lost: check.lost,
        duplicates: check.duplicates,
        tenths_s: tenths,
        later_records_per_s: later,
      },
      baseline: { records_per_s: Math.round(baselinePerS), seconds: round(baseline.seconds, 2) },
      ratio: round(recordsPerS / baselinePerS, 3),
      steady,
      wide,
      settings: {
        partitions: options.partitions,
        warm_up_records: options.warmUp,
        batch_max_records: config.batch.maxRecords,
        batch_max_bytes: config.batch.maxBytes,
        batch_max_wait_ms: config.batch.maxWaitMs,
        bridge_max_in_flight: config.batch.maxInFlight,
        worker_max_concurrent_batches: batchesAtOnce(config.worker, workerEngines(config.worker)),
      },
    };
  } finally {
    await outputs?.close();
    await Promise.all(services.map((s) => stopChild(s.child)));
    await removeRun(kafka, redis, config, id).then(
      (removed) => log(`Removed run ${id}: ${removed.topics} topics, ${removed.groups} consumer groups, ${removed.redisKeys} Redis keys.`),
      (err: unknown) => log(`Could not remove all of the run's topics, groups and keys (${err instanceof Error ? err.message : String(err)}); they are named ${id}-….`),
    );
    redis.disconnect();
  }
}

/**
 * A run's configuration and clients, with its input, output and dead-letter topics made (and the
 * baseline's, named after `baselinePrefix`, when given).
 */
async function openRun(options: BenchOptions, id: string, baselinePrefix?: string) {
  const env = benchEnvironment(id, options.env);
  const config = loadConfig({ ...process.env, ...env });
  const kafka = createKafka(config.kafka);
  await ensureTopics(kafka, [config.kafka.inputTopic], options.partitions);
  await ensureOutputTopics(kafka, config, options.partitions, baselinePrefix);
  const redis = createRedis(config.redis);
  return { env, config, kafka, childEnv: serviceEnvironment(env), redis, store: createInsightsStore(redis, config) };
}

/** The run's output and dead-letter topics, and those named after `baselinePrefix` (if given). */
async function ensureOutputTopics(kafka: Kafka, config: Config, partitions: number, baselinePrefix?: string): Promise<void> {
  const dlqLimit = await deadLetterTopicLimit(kafka, config.kafka.inputTopic);
  const dlqs = [config.kafka.dlqTopic, ...(baselinePrefix ? [`${baselinePrefix}-dlq`] : [])].map((topic) => ({ topic, maxMessageBytes: dlqLimit }));
  await ensureTopics(kafka, [config.kafka.outputTopic, ...(baselinePrefix ? [`${baselinePrefix}-out`] : []), ...dlqs], partitions);
}

interface TimedPipeline {
  bridge: Service;
  /** The outputs, indexed once the timed run was over; still following them. */
  index: OutputIndex;
  seconds: number;
  check: { lost: number; duplicates: number };
  tenths: number[];
  later: number | null;
}

/**
 * Starts a bridge on the run's input, with the worker already running, and times the pipeline,
 * as the baseline is timed, from the moment the bridge's consumer has joined its group until
 * Redis counts every record of the load and the last output is out; then reads the outputs and
 * accounts for every input offset.
 */
async function timePipeline(
  kafka: Kafka,
  config: Config,
  run: { childEnv: Environment; store: InsightsStore; expected: Expected; loadStartedAt: number; timedFrom: number[]; services: Service[] },
): Promise<TimedPipeline> {
  const { inputTopic, outputTopic, dlqTopic } = config.kafka;
  const bridge = launch('lib/src/bridge/main.js', run.childEnv, 'Bridge running');
  run.services.push(bridge);
  const started = await groupJoined(kafka, config.kafka.groupId, run.services);
  const countedAt = await countedInRedis(run.store, run.expected, run.loadStartedAt, run.services);
  // Read only now, once the last transactions are in: reading the outputs while they are written
  // takes a core from the pipeline (Redis counts a chunk before its transaction publishes it).
  await outputsSettled(kafka, [outputTopic, dlqTopic]);
  const index = await OutputIndex.start(kafka, [outputTopic, dlqTopic]);
  const inputEnds = await partitionEnds(kafka, inputTopic);
  const check = await waitUntil(
    () => {
      const accounted = index.accountFor(inputTopic, inputEnds);
      return accounted.lost === 0 ? accounted : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500, message: 'every input offset in the outputs' },
  ).catch(() => index.accountFor(inputTopic, inputEnds));
  // A chunk is counted in Redis before its transaction publishes it, so the run ends at the later
  // of the two: Redis counting the last record, or the last output's timestamp (its produce time;
  // its commit follows within a round trip).
  const seconds = (Math.max(countedAt, index.lastTimeOf(inputTopic)) - started) / 1000;
  const outTimes = index.timesOf(inputTopic, run.timedFrom);
  const tenths = tenthsOut(started, outTimes);
  return { bridge, index, seconds, check, tenths, later: laterRate(outTimes.length, tenths) };
}

/**
 * Whether throughput is flat with input size: the small size, the large one, then the small one
 * again, and the large size's rate over the mean of the small one's two. A machine whose speed
 * drifts through the phase moves both sizes alike, where a single pair would take the drift for
 * a difference.
 */
async function measureFlatness(options: BenchOptions, id: string, [small, large]: [number, number]): Promise<Flatness> {
  const runs: SizeRun[] = [];
  for (const [i, records] of [small, large, small].entries()) {
    options.log(`Flatness, run ${i + 1} of 3: ${records} records through a new worker and bridge…`);
    const run = await sizeRun(options, `${id}-f${i + 1}`, records);
    options.log(`  ${run.records_per_s} records/s (${run.seconds} s); lost ${run.lost}, duplicates ${run.duplicates}`);
    runs.push(run);
  }
  return flatnessOf(runs);
}

/** The pipeline alone, as the throughput phase runs it, on `records` generator records of a run of its own. */
async function sizeRun(options: BenchOptions, id: string, records: number): Promise<SizeRun> {
  const { config, kafka, childEnv, redis, store } = await openRun(options, id);
  const services: Service[] = [];
  let index: OutputIndex | undefined;
  const loadStartedAt = Date.now();
  try {
    const timedFrom = await partitionEnds(kafka, config.kafka.inputTopic);
    const expected = await produceLoad(kafka, config.kafka.inputTopic, records);
    await startWorker(childEnv, services);
    const timed = await timePipeline(kafka, config, { childEnv, store, expected, loadStartedAt, timedFrom, services });
    index = timed.index;
    return {
      records,
      records_per_s: Math.round(records / timed.seconds),
      seconds: round(timed.seconds, 2),
      tenths_s: timed.tenths,
      later_records_per_s: timed.later,
      lost: timed.check.lost,
      duplicates: timed.check.duplicates,
    };
  } finally {
    await index?.close();
    await Promise.all(services.map((s) => stopChild(s.child)));
    await removeRun(kafka, redis, config, id).catch((err: unknown) =>
      options.log(`Could not remove all of run ${id}'s topics, groups and keys (${err instanceof Error ? err.message : String(err)}).`),
    );
    redis.disconnect();
  }
}

async function startWorker(env: Environment, services: Service[]): Promise<Service> {
  const worker = launch('lib/src/worker/main.js', env, 'Worker running');
  services.push(worker);
  await alive(worker.running, services);
  return worker;
}

/** Runs a bridge until `done` resolves, then stops it; the worker stays. */
async function runBridgeUntil(env: Environment, done: () => Promise<unknown>, services: Service[]): Promise<void> {
  const bridge = launch('lib/src/bridge/main.js', env, 'Bridge running');
  services.push(bridge);
  try {
    await alive(bridge.running, services);
    await done();
  } finally {
    services.splice(services.indexOf(bridge), 1);
    await stopChild(bridge.child);
  }
}

function sum(a: Expected, b: Expected): Expected {
  return { logins: a.logins + b.logins, deadLetters: a.deadLetters + b.deadLetters };
}

/** Produces generator records as fast as the broker takes them; returns what the rules make of them. */
async function produceLoad(kafka: Kafka, topic: string, count: number): Promise<Expected> {
  const next = createGenerator({ invalidRatio: 0.01, missingDeviceTypeRatio: 0.05 });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const expected: Expected = { logins: 0, deadLetters: 0 };
  const nowMs = Date.now();
  const pending: Promise<unknown>[] = [];
  for (let sent = 0; sent < count; ) {
    const n = Math.min(1000, count - sent);
    const messages: Message[] = [];
    for (let i = 0; i < n; i++) {
      const { key, value } = next();
      countExpected(expected, value, nowMs);
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

function countExpected(expected: Expected, value: string, nowMs: number): void {
  if (transformRecord(Buffer.from(value), { source: { topic: '', partition: 0, offset: '0' }, batchId: '', nowMs }).ok) expected.logins++;
  else expected.deadLetters++;
}

/**
 * Produces at `options.rate` for `options.steadySeconds` to `topic`, waits for every record's
 * output, and measures latency (Kafka timestamps of input and output), the CPU each component
 * spent over the phase, and the workflows the bridge started.
 */
async function steadyPhase(
  kafka: Kafka,
  config: Config,
  topic: string,
  options: BenchOptions,
  processes: { bridge: Service; worker: Service; services: Service[]; outputs: OutputIndex },
): Promise<SteadyResult> {
  const temporalPid = runningPid(options.temporalProc ?? stackLayout(config).temporal);
  const pids = { bridge: processes.bridge.child.pid!, worker: processes.worker.child.pid!, temporal: temporalPid };
  const cpuBefore = { bridge: cpuSeconds(pids.bridge), worker: cpuSeconds(pids.worker), temporal: temporalPid ? cpuSeconds(temporalPid) : 0 };
  const bridgePort = await processes.bridge.port;
  const workflowsBefore = await startedWorkflows(bridgePort);
  const inputBefore = await partitionEnds(kafka, topic);
  const started = Date.now();
  const { produced, ackMs } = await produceSteadily(kafka, topic, options.rate, options.steadySeconds);
  const inputAfter = await partitionEnds(kafka, topic);
  await waitUntil(
    async () => {
      await alive(Promise.resolve(), processes.services);
      return processes.outputs.countFrom(topic, inputBefore) >= produced;
    },
    { timeoutMs: 180_000, intervalMs: 200, message: `every record of the steady phase on ${topic} to come out` },
  );
  const seconds = (Date.now() - started) / 1000;
  const cores = (pid: number | undefined, before: number) => (pid ? round((cpuSeconds(pid) - before) / seconds, 3) : null);
  const cpu = { bridge: cores(pids.bridge, cpuBefore.bridge)!, worker: cores(pids.worker, cpuBefore.worker)!, temporal: cores(temporalPid, cpuBefore.temporal) };
  const workflows = (await startedWorkflows(bridgePort)) - workflowsBefore;
  const latencies = await latenciesOf(kafka, topic, inputBefore, inputAfter, processes.outputs);
  return {
    partitions: options.partitions,
    rate: options.rate,
    records: produced,
    p50_ms: round(percentile(latencies, 0.5), 1),
    p99_ms: round(percentile(latencies, 0.99), 1),
    workflows_per_s: round(workflows / options.steadySeconds, 2),
    kafka_ack_p99_ms: percentile(ackMs, 0.99),
    kafka_ack_max_ms: ackMs[ackMs.length - 1] ?? NaN,
    cpu_cores: { ...cpu, total: round(cpu.bridge + cpu.worker + (cpu.temporal ?? 0), 3) },
  };
}

/**
 * Produces `rate` records a second for `seconds`, in ticks of 10 ms, without waiting for the broker
 * between ticks; with how long each send took to be acknowledged, sorted.
 */
async function produceSteadily(kafka: Kafka, topic: string, rate: number, seconds: number): Promise<{ produced: number; ackMs: number[] }> {
  const next = createGenerator({ invalidRatio: 0.01 });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const total = rate * seconds;
  const perTick = Math.max(1, Math.round(rate / 100));
  const started = Date.now();
  const sends: Promise<unknown>[] = [];
  const ackMs: number[] = [];
  for (let sent = 0; sent < total; sent += perTick) {
    const messages = Array.from({ length: Math.min(perTick, total - sent) }, () => {
      const r = next();
      return { key: r.key, value: r.value };
    });
    const sentAt = Date.now();
    sends.push(producer.send({ topic, acks: 1, messages }).then(() => ackMs.push(Date.now() - sentAt)));
    await sleep(started + ((sent + perTick) / rate) * 1000 - Date.now());
  }
  await Promise.all(sends);
  await producer.disconnect();
  return { produced: total, ackMs: ackMs.sort((a, b) => a - b) };
}

/** Produce-to-output latency per record: its input's and its output's Kafka timestamps. */
async function latenciesOf(kafka: Kafka, topic: string, from: number[], to: number[], outputs: OutputIndex): Promise<number[]> {
  const latencies: number[] = [];
  for (const [key, producedAt] of await inputTimes(kafka, topic, from, to)) {
    const out = outputs.timeOf(key);
    if (out !== undefined) latencies.push(out - producedAt);
  }
  return latencies.sort((a, b) => a - b);
}

/** lp_bridge_batches_total{result="started"} from the bridge's /metrics. */
async function startedWorkflows(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('lp_bridge_batches_total') && l.includes('result="started"'));
  return Number(line?.split(' ').pop() ?? 0);
}

/**
 * When Redis counts every login and every dead letter of the load (exactly once, by
 * construction). It polls while the pipeline is timed, on the same cores, so each poll reads only
 * what it needs: the run's own buckets (the load's event times and processing times are all later
 * than `loadStartedAt`), their login counts per version and dead-letter counts, no HyperLogLog.
 * Every 100 ms, and every 10 ms once 90% is counted: the end is known to within 10 ms, for a
 * few dozen polls more per run.
 */
async function countedInRedis(store: InsightsStore, expected: Expected, loadStartedAt: number, services: Service[]): Promise<number> {
  const since = loadStartedAt - 60_000;
  let counted = { logins: 0, deadLetters: 0 };
  const share = async () => {
    await alive(Promise.resolve(), services);
    const series = await store.readSeries(since, Date.now() + 60_000);
    const sum = (values: Record<string, number[]>) => Object.values(values).flat().reduce((a, b) => a + b, 0);
    counted = { logins: sum(series.logins_by_version), deadLetters: sum(series.dead_letters_by_reason) };
    const part = (n: number, of: number) => (of === 0 ? 1 : n / of);
    return Math.min(part(counted.logins, expected.logins), part(counted.deadLetters, expected.deadLetters));
  };
  const options = { timeoutMs: 30 * 60_000, message: () => `Redis to count every record (${JSON.stringify(counted)} of ${JSON.stringify(expected)})` };
  await waitUntil(async () => (await share()) >= 0.9, { ...options, intervalMs: 100 });
  return waitUntil(async () => ((await share()) >= 1 ? Date.now() : undefined), { ...options, intervalMs: 10 });
}

/** Resolves once the topics' ends have not moved for a few polls (or after 10 s: the index waits for what is missing). */
async function outputsSettled(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let last = -1;
    let unchanged = 0;
    await waitUntil(
      async () => {
        const ends = await Promise.all(topics.map((topic) => admin.fetchTopicOffsets(topic)));
        const total = ends.flat().reduce((n, p) => n + Number(p.high), 0);
        unchanged = total === last ? unchanged + 1 : 0;
        last = total;
        return unchanged >= 3 || undefined;
      },
      { timeoutMs: 10_000, intervalMs: 20, message: 'the outputs to settle' },
    ).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

async function partitionEnds(kafka: Kafka, topic: string): Promise<number[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition).map((p) => Number(p.high));
  } finally {
    await admin.disconnect();
  }
}

/** A service of ours, its output scanned for its "running" line and its HTTP port. */
function launch(entry: string, env: Environment, runningLine: string): Service {
  const child = spawn(process.execPath, [resolve(ROOT, entry)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  let onPort: (port: number) => void = () => undefined;
  let onRunning: () => void = () => undefined;
  const port = new Promise<number>((r) => (onPort = r));
  const running = new Promise<void>((r) => (onRunning = r));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const served = /"port":(\d+)[^\n]*"msg":"Serving \/metrics/.exec(line);
    if (served) onPort(Number(served[1]));
    if (line.includes(runningLine)) onRunning();
    if (/"level":(40|50|60)/.test(line)) process.stderr.write(`${line}\n`);
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${entry} exited with code ${code} during the benchmark`))));
  exited.catch(() => undefined);
  return { child, port, running, exited };
}

/** Resolves with `what`, or rejects as soon as one of our services exits. */
async function alive<T>(what: Promise<T>, services: Service[]): Promise<T> {
  return Promise.race([what, ...services.map((s) => s.exited)]);
}

async function groupJoined(kafka: Kafka, groupId: string, services: Service[]): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await waitUntil(
      async () => {
        await alive(Promise.resolve(), services);
        const { groups } = await admin.describeGroups([groupId]);
        return groups[0]?.state === 'Stable' && groups[0].members.length > 0 ? Date.now() : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 20, message: 'the bridge to join its consumer group' },
    );
  } finally {
    await admin.disconnect();
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await withDeadline(exited, 30_000, 'A pipeline process stopping').catch(() => child.kill('SIGKILL'));
}
