/**
 * The fault suite: under a steady load from the generator, SIGKILL (and restart) in turn the
 * worker, the bridge, the Temporal server, the Kafka broker and Redis; then run two bridges and
 * two workers on a 4-partition topic and kill one of each. After each fault: every input offset
 * once in OUTPUT_TOPIC or DLQ_TOPIC (duplicates only with the same source, counted), Redis exact.
 *
 * It runs on a stack of its own (other ports, its own state folder), so that killing Kafka,
 * Temporal or Redis disturbs nothing else.
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

export type FaultName = 'worker' | 'bridge' | 'Temporal server' | 'Kafka broker' | 'Redis' | 'one bridge and one worker of two';

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
  const harness = new PipelineHarness(`fault-${fault.split(' ')[0]!.toLowerCase()}`, { ...stack.env, BATCH_MAX_RECORDS: '100' }, pair ? 4 : 2);
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
    await inject(stack, harness, fault, secondWorker, secondBridge);
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
    assert.deepEqual(accounting.lost, [], formatAccounting(accounting));
    assert.deepEqual(accounting.conflicting, [], 'no offset is both a login and a dead letter');
    await harness.waitForRedisExact(60_000, ` after the ${fault} fault`);
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

async function inject(
  stack: FaultStack,
  harness: PipelineHarness,
  fault: FaultName,
  secondWorker: ChildService | undefined,
  secondBridge: ChildService | undefined,
): Promise<void> {
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
  }
}

const ALL_FAULTS: FaultName[] = ['worker', 'bridge', 'Temporal server', 'Kafka broker', 'Redis', 'one bridge and one worker of two'];

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
      it(faultTitle(fault), async () => {
        rows.push(await runFault(stack, fault, { records: size.records, rate: size.rate }));
      });
    }
  });
}

function faultTitle(fault: FaultName): string {
  return `survives a SIGKILL of ${fault === 'one bridge and one worker of two' ? fault : `the ${fault}`}`;
}

function formatTable(rows: FaultRow[]): string {
  const header = ['fault (SIGKILL)', 'records', 'lost', 'duplicates', 'time to recover'];
  const cells = rows.map((r) => [r.fault, String(r.records), String(r.lost), String(r.duplicates), `${r.recoverySeconds.toFixed(1)} s`]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}
