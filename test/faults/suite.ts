/**
 * The fault suite: under a steady load from the generator, inject one fault at a time and check
 * the delivery guarantee after it: every input offset once in OUTPUT_TOPIC or DLQ_TOPIC
 * (duplicates only with the same source, counted; none at all where the stack says so), Redis exact.
 *
 * A stack brings its services and its faults. The single-node one (FaultStack, below) SIGKILLs
 * and restarts in turn the worker, the bridge, the Temporal server, the Kafka broker and Redis,
 * then runs two bridges and two workers on a 4-partition topic and kills one of each; the cluster
 * profile's (cluster.ts) kills the leader of a partition, a Redis master, Temporal's server and
 * its PostgreSQL. Each runs on services of its own (other ports, its own state folder), so that
 * killing them disturbs nothing else.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Environment } from '../../src/config';
import { formatAccounting, sourceOf } from '../helpers/accounting';
import { DedicatedService } from '../helpers/dedicated';
import { PipelineHarness } from '../helpers/pipeline';
import { ChildService } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

export interface FaultSuiteOptions {
  /** Records the generator sends per scenario. */
  records: number;
  /** Records per second. */
  rate: number;
}

export interface FaultRow {
  fault: string;
  records: number;
  lost: number;
  duplicates: number;
  recoverySeconds: number;
}

/** What a fault gets to work on: the scenario's pipeline, and the second worker and bridge of a pair scenario. */
export interface FaultContext {
  harness: PipelineHarness;
  secondWorker?: ChildService;
  secondBridge?: ChildService;
}

export interface Fault {
  /** The table's first column: what is killed. */
  name: string;
  /** Runs two bridges and two workers on a 4-partition input (the fault takes one of each). */
  pair?: boolean;
  /** Kills (and, for a service, restarts) what it names; returns once the restart is under way. */
  inject(context: FaultContext): Promise<void>;
}

export interface FaultStackLike {
  /** The variables that point a pipeline at this stack. */
  readonly env: Environment;
  readonly faults: Fault[];
  /** When set, a fault must leave no duplicate at all (transactions and read_committed on this stack make that the guarantee). */
  readonly noDuplicates?: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Faults that any stack has: our own processes. */
export const PROCESS_FAULTS = {
  worker: { name: 'worker', inject: ({ harness }) => restart(harness.worker) },
  bridge: { name: 'bridge', inject: ({ harness }) => restart(harness.bridge) },
  pair: {
    name: 'one bridge and one worker of two',
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

/** The single-node stack, on dedicated services: SIGKILL and restart of each of our processes and each service. */
export class FaultStack implements FaultStackLike {
  readonly kafka = new DedicatedService('kafka', 'faults-kafka', 25092);
  readonly temporal = new DedicatedService('temporal', 'faults-temporal', 25233);
  readonly redis = new DedicatedService('redis', 'faults-redis', 25379);
  readonly faults: Fault[] = [
    PROCESS_FAULTS.worker,
    PROCESS_FAULTS.bridge,
    { name: 'Temporal server', inject: () => killAndStart(this.temporal) },
    { name: 'Kafka broker', inject: () => killAndStart(this.kafka) },
    { name: 'Redis', inject: () => killAndStart(this.redis) },
    PROCESS_FAULTS.pair,
  ];

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

async function killAndStart(service: DedicatedService): Promise<void> {
  await service.kill();
  await service.start();
}

/** Runs one scenario and returns its row of the table; asserts the delivery guarantee. */
export async function runFault(stack: FaultStackLike, fault: Fault, options: FaultSuiteOptions): Promise<FaultRow> {
  const pair = fault.pair === true;
  const name = `fault-${fault.name.split(' ')[0]!.toLowerCase()}`.replace(/[^a-z0-9-]/g, '');
  const harness = new PipelineHarness(name, { ...stack.env, BATCH_MAX_RECORDS: '100' }, pair ? 4 : 2);
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
      message: `a third of the records out before the ${fault.name} fault`,
    });

    const producedBefore = await harness.inputPartitionSizes();
    const killedAt = Date.now();
    await fault.inject({ harness, secondWorker, secondBridge });
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
      { timeoutMs: 180_000, message: `records produced after the ${fault.name} fault to come out of every partition` },
    );

    assert.equal(await generator.waitForExit(), 0, `the generator rode out the fault:\n${generator.tail()}`);
    const accounting = await harness.waitForAllAccounted(300_000);
    assert.deepEqual(accounting.lost, [], formatAccounting(accounting));
    assert.deepEqual(accounting.conflicting, [], 'no offset is both a login and a dead letter');
    if (stack.noDuplicates) assert.equal(accounting.duplicates, 0, `no duplicate after the ${fault.name} fault: ${formatAccounting(accounting)}`);
    await harness.waitForRedisExact(60_000, ` after the ${fault.name} fault`);
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

    for (const fault of stack.faults) {
      it(`survives a SIGKILL of ${fault.pair ? fault.name : `the ${fault.name}`}`, async () => {
        rows.push(await runFault(stack, fault, { records: size.records, rate: size.rate }));
      });
    }
  });
}

function formatTable(rows: FaultRow[]): string {
  const header = ['fault (SIGKILL)', 'records', 'lost', 'duplicates', 'time to recover'];
  const cells = rows.map((r) => [r.fault, String(r.records), String(r.lost), String(r.duplicates), `${r.recoverySeconds.toFixed(1)} s`]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}
