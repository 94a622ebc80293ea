/** Redis clean-up for tests, on one Redis or a cluster alike. */
import { deleteKeysUnder, type RedisClient } from '../../src/clients/redis';

/** Deletes every key under `prefix`. */
export async function deleteKeys(redis: RedisClient, prefix: string): Promise<void> {
  await deleteKeysUnder(redis, prefix);
}

/**
 * What Redis's HyperLogLog estimates for these members, added to `key` (a key of the test's own
 * prefix). The pipeline's estimates of a known input must equal it: a tolerance around the true
 * count fails now and then, since random members give a new estimation error each run.
 */
export async function hyperLogLogEstimate(redis: RedisClient, key: string, members: Iterable<string>): Promise<number> {
  await redis.pfadd(key, ...members);
  return redis.pfcount(key);
}
