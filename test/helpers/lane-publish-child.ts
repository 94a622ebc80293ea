/**
 * Publishes lane chunks as an engine does, in a process of its own: the module that keeps
 * kafkajs's transaction managers is loaded before kafkajs, as in the worker and its engines (a
 * mocha process has loaded kafkajs long before). Prints what it sent, by request, as JSON, and
 * the coordinator lookups (FindCoordinator requests) of each chunk.
 *
 * node lib/test/helpers/lane-publish-child.js '{"lane":…,"anchor":…,"messages":[{"topic":…,"key":…,"value":…}],"chunks":1}'
 * with the test's environment (KAFKA_BROKERS and the rest).
 */
// First: before kafkajs.
import { transactionManagersKept } from '../../src/clients/kafkajs-transaction-partitions';
/* eslint-disable @typescript-eslint/no-require-imports */
import { createKafka } from '../../src/clients/kafka';
import { LaneTransactions } from '../../src/clients/transactions';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';

interface Job {
  lane: string;
  anchor: string;
  messages: { topic: string; key: string; value: string }[];
  /** How many chunks of these messages to publish, one transaction each (1 by default). */
  chunks?: number;
}

/** Counts the calls of kafkajs's Broker methods named, by name. */
function countBrokerCalls(names: string[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const broker = (require('kafkajs/src/broker') as { prototype: Record<string, (...args: unknown[]) => unknown> }).prototype;
  for (const name of names) {
    const original = broker[name]!;
    broker[name] = function (this: unknown, ...args: unknown[]) {
      counts[name]!++;
      return original.apply(this, args);
    };
  }
  return counts;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  const config = loadConfig(process.env);
  const counts = countBrokerCalls(['addPartitionsToTxn', 'produce', 'endTxn', 'findGroupCoordinator']);
  const transactions = new LaneTransactions(createKafka(config.kafka, { clientId: 'lane-publish-child' }), createLogger('worker', config), {
    transactionTimeoutMs: 30_000,
    maxRequestBytes: 512 * 1024,
    idleMs: 60_000,
  });
  try {
    const lease = transactions.lease(job.lane);
    const lookupsByChunk: number[] = [];
    let outcome: string | undefined;
    for (let chunk = 1; chunk <= (job.chunks ?? 1); chunk++) {
      const before = counts.findGroupCoordinator!;
      const valueOf = (value: string) => (job.chunks === undefined ? value : `${value} (chunk ${chunk})`);
      const outgoing = job.messages.map(({ topic, key, value }) => ({ topic, message: { key, value: valueOf(value) }, size: key.length + valueOf(value).length + 16, offset: '0' }));
      outcome = await lease.publishOnce(job.anchor, BigInt(chunk), outgoing);
      lookupsByChunk.push(counts.findGroupCoordinator! - before);
    }
    lease.release();
    process.stdout.write(`${JSON.stringify({ kept: transactionManagersKept(), outcome, ...counts, lookupsByChunk })}\n`);
  } finally {
    await transactions.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
