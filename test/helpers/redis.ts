/** Redis clean-up for tests, on one Redis or a cluster alike. */
import { redisMasters, type RedisClient } from '../../src/clients/redis';

/** Deletes every key under `prefix`: SCAN is per node, so each master is scanned (one key per DEL, as keys may be in different slots). */
export async function deleteKeys(redis: RedisClient, prefix: string): Promise<void> {
  for (const node of redisMasters(redis)) {
    for await (const batch of node.scanStream({ match: `${prefix}*`, count: 500 })) {
      await Promise.all((batch as string[]).map((key) => redis.del(key)));
    }
  }
}
