/** Redis clean-up for tests, on one Redis or a cluster alike. */
import { deleteKeysUnder, type RedisClient } from '../../src/clients/redis';

/** Deletes every key under `prefix`. */
export async function deleteKeys(redis: RedisClient, prefix: string): Promise<void> {
  await deleteKeysUnder(redis, prefix);
}
