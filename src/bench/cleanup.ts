/**
 * What a benchmark run leaves behind, removed when it ends. Everything of a run is named under
 * its id: its topics (about 60 partitions a run, with their data), its consumer groups (the
 * bridges', the lanes' marks, the baseline's), its Redis keys and its insights workflow. Kept,
 * they pile up: a day of runs grew a local broker to 7,000 partitions and 27 GB, and every later
 * run measured a slower broker.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Admin, Kafka } from 'kafkajs';
import { deleteKeysUnder, type RedisClient } from '../clients/redis';
import { connectClient } from '../clients/temporal';
import type { Config } from '../config';

export interface RemovedRun {
  topics: number;
  groups: number;
  redisKeys: number;
}

/** Deletes the run's topics, consumer groups and Redis keys, and terminates its insights workflow. */
export async function removeRun(kafka: Kafka, redis: RedisClient, config: Config, id: string): Promise<RemovedRun> {
  const [kafkaRemoved, redisKeys] = await Promise.all([removeKafkaResources(kafka, `${id}-`), deleteKeysUnder(redis, config.redis.prefix)]);
  await terminateInsights(config);
  return { ...kafkaRemoved, redisKeys };
}

/** The topics and consumer groups whose names start with `prefix`. */
export async function kafkaNamesUnder(admin: Admin, prefix: string): Promise<{ topics: string[]; groups: string[] }> {
  const [topics, { groups }] = await Promise.all([admin.listTopics(), admin.listGroups()]);
  return { topics: topics.filter((t) => t.startsWith(prefix)), groups: groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix)) };
}

async function removeKafkaResources(kafka: Kafka, prefix: string): Promise<Omit<RemovedRun, 'redisKeys'>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics, groups } = await kafkaNamesUnder(admin, prefix);
    // Groups first: a group's offsets on a deleted topic would linger until the group expires.
    if (groups.length > 0) await admin.deleteGroups(groups);
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
    return { topics: topics.length, groups: groups.length };
  } finally {
    await admin.disconnect();
  }
}

async function terminateInsights(config: Config): Promise<void> {
  const client = await connectClient(config.temporal);
  try {
    await client.workflow.getHandle(config.temporal.insightsWorkflowId).terminate('the benchmark run ended');
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  } finally {
    await client.connection.close();
  }
}
