/**
 * The fault suite: under a steady load from the generator, inject one fault at a time, then read
 * the outputs with isolation read_committed: every input offset exactly once in OUTPUT_TOPIC or
 * DLQ_TOPIC (lost 0, duplicates 0, asserted), Redis exact, and `npm run reconcile` green.
 *
 * A stack brings its services and its faults. The single-node one (FaultStack, below) SIGKILLs
 * and restarts in turn the worker, the bridge, the Temporal server, the Kafka broker and Redis;
 * runs two bridges and two workers on a 4-partition topic and kills one of each; freezes Redis
 * for three times a batch attempt's timeout (attempts time out and are retried while the frozen
 * ones still wait); keeps Kafka, then Temporal, down for a long outage; and has the DLQ refuse
 * every dead letter until its limit is raised. The cluster profile's (cluster.ts) kills the
 * leader of a partition, a Redis master, Temporal's server and its PostgreSQL. Each runs on
 * services of its own (other ports, its own state folder), so that killing them disturbs nothing
 * else.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Message } from 'kafkajs';
import type { Environment } from '../../src/config';
import { DEAD_LETTER_HEADROOM_BYTES, KAFKA_DEFAULT_MAX_MESSAGE_BYTES } from '../../src/clients/topics';
import { sleep } from '../../src/process/wait';
import { formatAccounting, sourceOf } from '../helpers/accounting';
import { runCommand } from '../helpers/command';
import { DedicatedService } from '../helpers/dedicated';
import { setMaxMessageBytes } from '../helpers/kafka';
import { PipelineHarness } from '../helpers/pipeline';
import { ChildService, LOG_DIR } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

export interface FaultSuiteOptions {
  /** Records the generator sends per scenario. */
  records: number;
  /** Records per second. */
  rate: number;
  /** How long the long outages (Kafka down, Temporal down, the DLQ refusing) last. */
  outageSeconds: number;
  /** BATCH_ATTEMPT_TIMEOUT_MS of the pipeline; Redis is frozen for three times this. */
  attemptTimeoutMs: number;
}

export interface FaultRow {
  fault: string;
  records: number;
  lost: number;
  duplicates: number;
  recoverySeconds: number;
}

/** What a fault gets to work on: the scenario's pipeline, the second worker and bridge of a pair scenario, the suite's size. */
export interface FaultContext {
  harness: PipelineHarness;
  secondWorker?: ChildService;
  secondBridge?: ChildService;
  options: FaultSuiteOptions;
}

export interface Fault {
  /** The test's title and the table's first column: what happens. */
  name: string;
  /** Runs two bridges and two workers on a 4-partition input (the fault takes one of each). */
  pair?: boolean;
  /** Does it (kills, and for a service restarts, what it names); returns once the restart is under way. */
  inject(context: FaultContext): Promise<void>;
}

export interface FaultStackLike {
  /** The variables that point a pipeline at this stack. */
  readonly env: Environment;
  faults(options: FaultSuiteOptions): Fault[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Faults that any stack has: our own processes. */
export const PROCESS_FAULTS = {
  worker: { name: 'SIGKILL of the worker', inject: ({ harness }) => restart(harness.worker) },
  bridge: { name: 'SIGKILL of the bridge', inject: ({ harness }) => restart(harness.bridge) },
  pair: {
    name: 'SIGKILL of one bridge and one worker of two',
    pair: true,
    // No restart: the survivors take over the partitions (rebalance) and the task queue.
    inject: async ({ secondWorker, secondBridge }) => {
      await Promise.all([secondBridge!.stop('SIGKILL'), secondWorker!.stop('SIGKILL')]);
    },
  },
} satisfies Record<string, Fault>;

async function restart(service: ChildService): Promise<void> {
  await service.stop('SIGKILL');
  await service.start();
}

/** max.message.bytes of the DLQ while it refuses dead letters (see the DLQ fault below). */
const DLQ_REFUSING_LIMIT_BYTES = 256;

/** The length of an outage is the fault itself, not a wait for something. */
const outage = (ms: number) => sleep(ms);

/** The single-node stack, on dedicated services. */
export class FaultStack implements FaultStackLike {
  readonly kafka = new DedicatedService('kafka', 'faults-kafka', 25092);
  readonly temporal = new DedicatedService('temporal', 'faults-temporal', 25233);
  readonly redis = new DedicatedService('redis', 'faults-redis', 25379);

  get env(): Environment {
    return { ...this.kafka.env, ...this.temporal.env, ...this.redis.env };
  }

  faults(options: FaultSuiteOptions): Fault[] {
    const { kafka, temporal, redis } = this;
    return [
      PROCESS_FAULTS.worker,
      PROCESS_FAULTS.bridge,
      { name: 'SIGKILL of the Temporal server', inject: () => killAndStart(temporal) },
      { name: 'SIGKILL of the Kafka broker', inject: () => killAndStart(kafka) },
      { name: 'SIGKILL of Redis', inject: () => killAndStart(redis) },
      PROCESS_FAULTS.pair,
      {
        name: `Redis frozen (SIGSTOP) for ${(3 * options.attemptTimeoutMs) / 1000} s, 3× the attempt timeout`,
        inject: async () => {
          redis.freeze();
          await outage(3 * options.attemptTimeoutMs);
          redis.thaw();
        },
      },
      { name: `Kafka broker down for ${options.outageSeconds} s`, inject: () => killFor(kafka, options.outageSeconds) },
      { name: `Temporal server down for ${options.outageSeconds} s`, inject: () => killFor(temporal, options.outageSeconds) },
      {
        name: `DLQ refusing every dead letter for ${options.outageSeconds} s, then its limit raised`,
        inject: async ({ harness }) => {
          // A dead letter's batch is 390 bytes at least (the record and its dlq.* headers): every
          // one is refused until the limit is raised. A transaction marker's batch (about 80
          // bytes) still fits: the broker checks markers against the limit too, and a coordinator
          // whose abort marker is refused keeps that transaction open until it restarts.
          await setMaxMessageBytes(harness.kafka, harness.config.kafka.dlqTopic, DLQ_REFUSING_LIMIT_BYTES);
          await waitFor(() => /refused a record as too large/.test(harness.worker.logText()), { timeoutMs: 60_000, message: 'the worker to say the DLQ refuses a dead letter' });
          await outage(options.outageSeconds * 1000);
          await setMaxMessageBytes(harness.kafka, harness.config.kafka.dlqTopic, KAFKA_DEFAULT_MAX_MESSAGE_BYTES + DEAD_LETTER_HEADROOM_BYTES);
        },
      },
    ];
  }

  async start(): Promise<void> {
    await Promise.all([this.kafka.start(), this.temporal.start(), this.redis.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.kafka.stop(), this.temporal.stop(), this.redis.stop()]);
  }
}

async function killAndStart(service: DedicatedService): Promise<void> {
  await service.kill();
  await service.start();
}

async function killFor(service: DedicatedService, seconds: number): Promise<void> {
  await service.kill();
  await outage(seconds * 1000);
  await service.start();
}

/** Runs one scenario and returns its row of the table; asserts the delivery guarantee. */
export async function runFault(stack: FaultStackLike, fault: Fault, options: FaultSuiteOptions): Promise<FaultRow> {
  const pair = fault.pair === true;
  const slug = fault.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 32).replace(/-+$/, '');
  const harness = new PipelineHarness(`fault-${slug}`, { ...stack.env, BATCH_MAX_RECORDS: '100', BATCH_ATTEMPT_TIMEOUT_MS: String(options.attemptTimeoutMs) }, pair ? 4 : 2);
  const startedAt = Date.now();
  try {
    await harness.setup();
    const secondWorker = pair ? harness.spawn('worker', 'worker-2') : undefined;
    const secondBridge = pair ? harness.spawn('bridge', 'bridge-2') : undefined;
    await Promise.all([harness.startAll(), secondWorker?.start(), secondBridge?.start()]);
    const generator = new ChildService('generator', harness.t.env, `${harness.t.id}-generator`, [
      '--count',
      String(options.records),
      '--rate',
      String(options.rate),
      '--invalid-ratio',
      '0.02',
    ]);
    harness.extra.push(generator);
    await generator.start();
    const third = Math.floor(options.records / 3);
    await waitFor(() => harness.logins().length + harness.deadLetters().length >= third, {
      timeoutMs: 120_000,
      message: `a third of the records out before the fault (${fault.name})`,
    });

    const producedBefore = await harness.inputPartitionSizes();
    const killedAt = Date.now();
    await fault.inject({ harness, secondWorker, secondBridge, options });
    // On a slow machine the generator may have finished before the fault: a probe per partition
    // makes sure that records produced after it exist to come out.
    await harness.produce(producedBefore.map((_, partition) => probeRecord(partition)));
    // Recovered once, on every partition, a record produced after the fault has come out.
    const recovered = await waitFor(
      () => {
        const partitionsThrough = new Set<number>();
        for (const m of [...harness.logins(), ...harness.deadLetters()]) {
          const [, partition, offset] = sourceOf(m)?.key.split(':') ?? [];
          if (partition !== undefined && Number(offset) >= (producedBefore[Number(partition)] ?? Infinity)) partitionsThrough.add(Number(partition));
        }
        return partitionsThrough.size === producedBefore.length ? Date.now() : undefined;
      },
      { timeoutMs: 180_000, message: `records produced after the fault (${fault.name}) to come out of every partition` },
    );

    assert.equal(await generator.waitForExit(), 0, `the generator rode out the fault:\n${generator.tail()}`);
    const accounting = await harness.waitForAllAccounted(300_000);
    if (accounting.duplicates > 0) writeFileSync(join(LOG_DIR, `${harness.t.id}-duplicates.json`), JSON.stringify(duplicatesOf(harness), null, 1));
    assert.deepEqual(accounting.lost, [], formatAccounting(accounting));
    assert.equal(accounting.duplicates, 0, `every offset exactly once: ${formatAccounting(accounting)}`);
    assert.deepEqual(accounting.conflicting, [], 'no offset is both a login and a dead letter');
    await harness.waitForRedisExact(60_000, ` after the fault (${fault.name})`);
    await assertReconcileGreen(harness, fault, startedAt);
    return {
      fault: fault.name,
      records: accounting.inputs,
      lost: accounting.lost.length,
      duplicates: accounting.duplicates,
      recoverySeconds: (recovered - killedAt) / 1000,
    };
  } finally {
    await harness.close();
  }
}

/** A valid login on `partition`, produced after the fault. */
function probeRecord(partition: number): Message {
  const login = { user_id: `probe-${partition}`, app_version: '2.3.0', device_type: 'android', locale: 'RU', timestamp: Math.floor(Date.now() / 1000) };
  return { partition, key: `probe-${partition}`, value: JSON.stringify(login) };
}

/** `npm run reconcile` over the scenario's window, as an operator would run it after the fault: green (exit 0). */
async function assertReconcileGreen(harness: PipelineHarness, fault: Fault, startedAt: number): Promise<void> {
  const since = String(Math.floor(startedAt / 1000) - 60);
  const until = new Date(Date.now() + 60_000).toISOString();
  const run = await runCommand('reconcile', ['--since', since, '--until', until, '--json'], harness.t.env);
  assert.equal(run.code, 0, `npm run reconcile is green after the fault (${fault.name}):\n${run.stdout}\n${run.stderr}`);
}

/** For a failed run: each repeated source with the outputs that carry it (batch, Kafka partition and offset, timestamp). */
function duplicatesOf(harness: PipelineHarness): Record<string, { batch: string; at: string; time: string }[]> {
  const bySource = new Map<string, { batch: string; at: string; time: string }[]>();
  for (const m of [...harness.logins(), ...harness.deadLetters()]) {
    const key = sourceOf(m)?.key;
    if (!key) continue;
    const batch = m.headers['dlq.batch_id'] ?? (JSON.parse(m.value!.toString()) as { batch_id: string }).batch_id;
    const list = bySource.get(key) ?? [];
    list.push({ batch, at: `${m.topic}[${m.partition}]@${m.offset}`, time: new Date(m.timestamp).toISOString() });
    bySource.set(key, list);
  }
  return Object.fromEntries([...bySource].filter(([, list]) => list.length > 1));
}

/** One mocha suite over every fault of the stack (the single-node one by default) at the given size; prints the table and, when asked, saves it. */
export function describeFaultSuite(
  title: string,
  size: FaultSuiteOptions & { timeoutMs: number; saveTableTo?: string },
  makeStack: () => FaultStackLike = () => new FaultStack(),
): void {
  describe(title, function () {
    this.timeout(size.timeoutMs);
    const stack = makeStack();
    const rows: FaultRow[] = [];

    before(() => stack.start());
    after(async () => {
      const table = formatTable(rows);
      console.log(`\n${table}\n`);
      if (size.saveTableTo) writeFileSync(size.saveTableTo, `${table}\n`);
      await stack.stop();
    });

    for (const fault of stack.faults(size)) {
      it(`survives ${fault.name}`, async () => {
        rows.push(await runFault(stack, fault, size));
      });
    }
  });
}

function formatTable(rows: FaultRow[]): string {
  const header = ['fault', 'records', 'lost', 'duplicates', 'time to recover'];
  const cells = rows.map((r) => [r.fault, String(r.records), String(r.lost), String(r.duplicates), `${r.recoverySeconds.toFixed(1)} s`]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}
