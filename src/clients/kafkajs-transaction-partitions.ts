/**
 * kafkajs 2.2.4 adds a transaction's partitions one send at a time: each send that writes a
 * partition new to the transaction first sends AddPartitionsToTxn, itself preceded by a
 * FindCoordinator (src/producer/eosManager: the coordinator is looked up for every request). A
 * lane sends each partition on its own (src/clients/partitioned-send.ts), so a chunk over four
 * output and four dead-letter partitions paid eight of each, one after the other, and each
 * AddPartitionsToTxn is a write to the coordinator's transaction log. Counted on an engine at a
 * steady 2,000 records/s: 27 requests per transaction, 17 of them these.
 *
 * The Java client adds all of a transaction's pending partitions in one request. This keeps each
 * producer's transaction manager at hand, so that a lane can do the same before its sends
 * (`addPartitionsAhead`): kafkajs's manager then knows the partitions, and each send goes
 * without. The sends, their retries and what a broker's failure does to them do not change.
 * Each manager's coordinator lookups are kept too (src/clients/kafkajs-coordinators.ts).
 *
 * kafkajs binds its manager's factory when its producer module is first loaded, so this module
 * works only if it is loaded before kafkajs, as src/clients/kafkajs-grouping.ts is (the entry
 * points that publish import both first). Loaded later, nothing is kept, and the sends add their
 * partitions as before.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import type { Producer } from 'kafkajs';
import { keepCoordinatorsOf, type CoordinatorFinder } from './kafkajs-coordinators';

const MANAGER = require.resolve('kafkajs/src/producer/eosManager/index.js');
const PRODUCER = require.resolve('kafkajs/src/producer/index.js');

/** A transaction's partitions, as kafkajs's manager takes them. */
export type TopicPartitions = { topic: string; partitions: { partition: number }[] }[];

/** What this uses of kafkajs's transaction manager. */
interface TransactionManager {
  isInTransaction(): boolean;
  addPartitionsToTransaction(topicData: TopicPartitions): Promise<void>;
}

type ManagerFactory = (options: { cluster: CoordinatorFinder<object> }) => TransactionManager;

/** The manager the factory made last: read right after a producer's transaction() makes one. */
let madeLast: TransactionManager | undefined;
const managers = new WeakMap<Producer, TransactionManager>();
let installed = false;

function install(): void {
  if (require.cache[PRODUCER]) return;
  const factory = require(MANAGER) as ManagerFactory;
  require.cache[MANAGER]!.exports = (options: { cluster: CoordinatorFinder<object> }) => {
    // The manager's cluster is its producer's own: its coordinators are kept for it alone.
    keepCoordinatorsOf(options.cluster);
    return (madeLast = factory(options));
  };
  installed = true;
}

/**
 * Keeps the producer's transaction manager from its first transaction() on: kafkajs makes it
 * there, before that call's first await, so it is the one the factory made during the call.
 */
export function keepTransactionManager(producer: Producer): Producer {
  if (!installed) return producer;
  const transaction = producer.transaction;
  producer.transaction = () => {
    madeLast = undefined;
    const begun = transaction();
    if (madeLast) managers.set(producer, madeLast);
    madeLast = undefined;
    return begun;
  };
  return producer;
}

/**
 * Adds the partitions to the producer's open transaction in one AddPartitionsToTxn. False when
 * its manager is not kept (kafkajs was loaded before this module) or no transaction is open: the
 * sends then add their partitions themselves.
 */
export async function addPartitionsAhead(producer: Producer, topicData: TopicPartitions): Promise<boolean> {
  const manager = managers.get(producer);
  if (!manager?.isInTransaction() || topicData.length === 0) return false;
  await manager.addPartitionsToTransaction(topicData);
  return true;
}

/** Whether producers' transaction managers are kept in this process. */
export function transactionManagersKept(): boolean {
  return installed;
}

install();
