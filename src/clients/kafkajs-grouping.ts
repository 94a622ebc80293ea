/**
 * kafkajs 2.2.4 groups a send's records by partition with a spread per record
 * (src/producer/groupMessagesPerPartition.js: `[...current, message]`): quadratic in the records
 * of a request, in time and in garbage. Profiled in a worker engine, 6% of its CPU for requests
 * of about 900 records. This puts a linear grouping with the same result in its place.
 *
 * kafkajs binds that function when it is first loaded, so this module works only if it is
 * loaded before kafkajs: it is the first import of the entry points that publish (the worker and
 * its engines). Loaded later, it changes nothing, and `linearGroupingInstalled()` says so.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import Module from 'node:module';
import type { ICustomPartitioner, Message, PartitionMetadata } from 'kafkajs';
import type { Logger } from '../log';

const GROUPING = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');

interface Grouping {
  topic: string;
  partitionMetadata: PartitionMetadata[];
  messages: Message[];
  partitioner: ReturnType<ICustomPartitioner>;
}

/** The records of a send by partition, in order, as kafkajs's own grouping returns them. */
export function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: Grouping): Record<number, Message[]> {
  const groups: Record<number, Message[]> = {};
  if (partitionMetadata.length === 0) return groups;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (groups[partition] ??= []).push(message);
  }
  return groups;
}

function install(): void {
  if (require.cache[GROUPING]) return;
  const module = new Module(GROUPING);
  module.filename = GROUPING;
  module.exports = groupMessagesPerPartition;
  module.loaded = true;
  require.cache[GROUPING] = module;
}

/** Whether kafkajs in this process groups with the function above. */
export function linearGroupingInstalled(): boolean {
  return require('kafkajs/src/producer/groupMessagesPerPartition.js') === groupMessagesPerPartition;
}

/** One warning from an entry point that publishes, when kafkajs was loaded before this module. */
export function warnIfGroupingLoadedLate(logger: Logger): void {
  if (!linearGroupingInstalled()) logger.warn('kafkajs was loaded before its linear grouping: publishing works, with more CPU per record.');
}

install();
