/**
 * The fault suite: under a steady load from the generator, SIGKILL (and restart) in turn the
 * worker, the bridge, the Temporal server, the Kafka broker and Redis; run two bridges and two
 * workers on a 4-partition topic and kill one of each; freeze Redis for three times a batch
 * attempt's timeout (attempts time out and are retried while the frozen ones still wait); keep
 * Kafka, then Temporal, down for a long outage; and have the DLQ refuse every dead letter until
 * its limit is raised. After each fault, read with isolation read_committed: every input offset
 * exactly once in OUTPUT_TOPIC or DLQ_TOPIC (lost 0, duplicates 0, asserted), Redis exact.
 *
 * It runs on a stack of its own (other ports, its own state folder), so that killing Kafka,
 * Temporal or Redis disturbs nothing else.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Message } from 'kafkajs';
import type { Environment } from '../../src/config';
import { formatAccounting, sourceOf } from '../helpers/accounting';
import { runCommand } from '../helpers/command';
import { DedicatedService } from '../helpers/dedicated';
import { PipelineHarness } from '../helpers/pipeline';
import { ChildService, LOG_DIR } from '../helpers/processes';
import { waitFor } from '../helpers/wait';
import { setMaxMessageBytes } from '../helpers/kafka';
import { DEAD_LETTER_HEADROOM_BYTES, KAFKA_DEFAULT_MAX_MESSAGE_BYTES } from '../../src/clients/topics';
import { sleep } from '../../src/process/wait';

/** max.message.bytes of the DLQ while it refuses dead letters (see inject's 'DLQ refusing'). */
const DLQ_REFUSING_LIMIT_BYTES = 256;

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

export type FaultName =
  | 'worker'
  | 'bridge'
  | 'Temporal server'
  | 'Kafka broker'
  | 'Redis'
  | 'one bridge and one worker of two'
  | 'Redis frozen'
  | 'Kafka down'
  | 'Temporal down'
  | 'DLQ refusing';

export class FaultStack {
  readonly kafka = new DedicatedService('kafka', 'faults-kafka', 25092);
  readonly temporal = new DedicatedService('temporal', 'faults-temporal', 25233);
  readonly redis = new DedicatedService('redis', 'faults-redis', 25379);

  get env(): Environment {
    return { ...this.kafka.env, ...this.temporal.env, ...this.redis.env };
  }

  async start(): Promise<void> {
    await Promise.all([this.kafka.start(), this.temporal.start(), this.redis.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.kafka.stop(), this.temporal.stop(), this.redis.stop()]);
  }
}

/** Runs one scenario and returns its row of the table; asserts the delivery guarantee. */
export async function runFault(stack: FaultStack, fault: FaultName, options: FaultSuiteOptions): Promise<FaultRow> {
  const pair = fault === 'one bridge and one worker of two';
  const harness = new PipelineHarness(
    `fault-${fault.replace(/\W+/g, '-').toLowerCase()}`,
    { ...stack.env, BATCH_MAX_RECORDS: '100', BATCH_ATTEMPT_TIMEOUT_MS: String(options.attemptTimeoutMs) },
    pair ? 4 : 2,
  );
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
      message: `a third of the records out before the ${fault} fault`,
    });

    const producedBefore = await harness.inputPartitionSizes();
    const killedAt = Date.now();
    await inject(stack, harness, fault, options, secondWorker, secondBridge);
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
      { timeoutMs: 180_000, message: `records produced after the ${fault} fault to come out of every partition` },
    );

    assert.equal(await generator.waitForExit(), 0, `the generator rode out the fault:\n${generator.tail()}`);
    const accounting = await harness.waitForAllAccounted(300_000);
    if (accounting.duplicates > 0) writeFileSync(join(LOG_DIR, `${harness.t.id}-duplicates.json`), JSON.stringify(duplicatesOf(harness), null, 1));
    assert.deepEqual(accounting.lost, [], formatAccounting(accounting));
    assert.equal(accounting.duplicates, 0, `every offset exactly once: ${formatAccounting(accounting)}`);
    assert.deepEqual(accounting.conflicting, [], 'no offset is both a login and a dead letter');
    await harness.waitForRedisExact(60_000, ` after the ${fault} fault`);
    await assertReconcileGreen(harness, fault, startedAt);
    return {
      fault,
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
async function assertReconcileGreen(harness: PipelineHarness, fault: FaultName, startedAt: number): Promise<void> {
  const since = String(Math.floor(startedAt / 1000) - 60);
  const until = new Date(Date.now() + 60_000).toISOString();
  const run = await runCommand('reconcile', ['--since', since, '--until', until, '--json'], harness.t.env);
  assert.equal(run.code, 0, `npm run reconcile is green after the ${fault} fault:\n${run.stdout}\n${run.stderr}`);
}

async function inject(
  stack: FaultStack,
  harness: PipelineHarness,
  fault: FaultName,
  options: FaultSuiteOptions,
  secondWorker: ChildService | undefined,
  secondBridge: ChildService | undefined,
): Promise<void> {
  // The length of an outage is the fault itself, not a wait for something.
  const outage = (ms: number) => sleep(ms);
  switch (fault) {
    case 'worker':
      await harness.worker.stop('SIGKILL');
      await harness.worker.start();
      return;
    case 'bridge':
      await harness.bridge.stop('SIGKILL');
      await harness.bridge.start();
      return;
    case 'Temporal server':
      await stack.temporal.kill();
      await stack.temporal.start();
      return;
    case 'Kafka broker':
      await stack.kafka.kill();
      await stack.kafka.start();
      return;
    case 'Redis':
      await stack.redis.kill();
      await stack.redis.start();
      return;
    case 'one bridge and one worker of two':
      // No restart: the survivors take over the partitions (rebalance) and the task queue.
      await Promise.all([secondBridge!.stop('SIGKILL'), secondWorker!.stop('SIGKILL')]);
      return;
    case 'Redis frozen':
      stack.redis.freeze();
      await outage(3 * options.attemptTimeoutMs);
      stack.redis.thaw();
      return;
    case 'Kafka down':
      await stack.kafka.kill();
      await outage(options.outageSeconds * 1000);
      await stack.kafka.start();
      return;
    case 'Temporal down':
      await stack.temporal.kill();
      await outage(options.outageSeconds * 1000);
      await stack.temporal.start();
      return;
    case 'DLQ refusing':
      // A dead letter's batch is 390 bytes at least (the record and its dlq.* headers): every one
      // is refused until the limit is raised. A transaction marker's batch (about 80 bytes) still
      // fits: the broker checks markers against the limit too, and a coordinator whose abort
      // marker is refused keeps that transaction open until it restarts.
      await setMaxMessageBytes(harness.kafka, harness.config.kafka.dlqTopic, DLQ_REFUSING_LIMIT_BYTES);
      await waitFor(() => /refused a record as too large/.test(harness.worker.logText()), { timeoutMs: 60_000, message: 'the worker to say the DLQ refuses a dead letter' });
      await outage(options.outageSeconds * 1000);
      await setMaxMessageBytes(harness.kafka, harness.config.kafka.dlqTopic, KAFKA_DEFAULT_MAX_MESSAGE_BYTES + DEAD_LETTER_HEADROOM_BYTES);
      return;
  }
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

const ALL_FAULTS: FaultName[] = [
  'worker',
  'bridge',
  'Temporal server',
  'Kafka broker',
  'Redis',
  'one bridge and one worker of two',
  'Redis frozen',
  'Kafka down',
  'Temporal down',
  'DLQ refusing',
];

/** One mocha suite over every fault at the given size; prints the table and, when asked, saves it. */
export function describeFaultSuite(title: string, size: FaultSuiteOptions & { timeoutMs: number; saveTableTo?: string }): void {
  describe(title, function () {
    this.timeout(size.timeoutMs);
    const stack = new FaultStack();
    const rows: FaultRow[] = [];

    before(() => stack.start());
    after(async () => {
      const table = formatTable(rows);
      console.log(`\n${table}\n`);
      if (size.saveTableTo) writeFileSync(size.saveTableTo, `${table}\n`);
      await stack.stop();
    });

    for (const fault of ALL_FAULTS) {
      it(`survives ${describeFault(fault, size)}`, async () => {
        rows.push({ ...(await runFault(stack, fault, size)), fault: describeFault(fault, size) });
      });
    }
  });
}

/** What each fault does, for test titles and the table. */
function describeFault(fault: FaultName, options: FaultSuiteOptions): string {
  switch (fault) {
    case 'one bridge and one worker of two':
      return 'SIGKILL of one bridge and one worker of two';
    case 'Redis frozen':
      return `Redis frozen (SIGSTOP) for ${(3 * options.attemptTimeoutMs) / 1000} s, 3× the attempt timeout`;
    case 'Kafka down':
      return `Kafka broker down for ${options.outageSeconds} s`;
    case 'Temporal down':
      return `Temporal server down for ${options.outageSeconds} s`;
    case 'DLQ refusing':
      return `DLQ refusing every dead letter for ${options.outageSeconds} s, then its limit raised`;
    default:
      return `SIGKILL of the ${fault}`;
  }
}

function formatTable(rows: FaultRow[]): string {
  const header = ['fault', 'records', 'lost', 'duplicates', 'time to recover'];
  const cells = rows.map((r) => [r.fault, String(r.records), String(r.lost), String(r.duplicates), `${r.recoverySeconds.toFixed(1)} s`]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}
