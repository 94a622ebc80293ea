/**
 * The one place an ioredis client is built: URL (redis:// or rediss://), password, TLS; and, when
 * REDIS_CLUSTER_NODES is set, ioredis's Cluster client on those seed nodes with the URL's
 * password and TLS. Every caller takes the result as a RedisClient and runs the same code on both:
 * the store keeps each script's and each pipeline's keys in one hash slot (src/insights/store.ts).
 */
import { readFileSync } from 'node:fs';
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from '../config';

/** A single Redis or a Redis Cluster: the commands the product uses are the same on both. */
export type RedisClient = Redis | Cluster;

/**
 * A command that gets no answer within this time fails (it may still run later: every write of
 * ours is idempotent). Well under a batch attempt's timeout (BATCH_ATTEMPT_TIMEOUT_MS), so that a
 * frozen Redis fails the attempt, which Temporal retries, rather than leaving it to hang past it.
 */
export function redisCommandTimeoutMs(config: Pick<Config, 'batch'>): number {
  return Math.min(DEFAULT_COMMAND_TIMEOUT_MS, Math.floor(config.batch.attemptTimeoutMs / 4));
}

const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

export function createRedis(config: Config['redis'], options: { fast?: boolean; lazy?: boolean; commandTimeoutMs?: number } = {}): RedisClient {
  const tls: RedisOptions['tls'] = config.url.startsWith('rediss://')
    ? { ca: config.tlsCaFile ? [readFileSync(config.tlsCaFile, 'utf8')] : undefined }
    : undefined;
  const connection: RedisOptions = {
    tls,
    connectTimeout: options.fast ? 1_000 : 10_000,
    commandTimeout: options.fast ? 2_000 : (options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS),
  };
  if (config.clusterNodes) {
    const url = new URL(config.url);
    const clusterOptions: ClusterOptions = {
      lazyConnect: options.lazy ?? false,
      enableOfflineQueue: !options.fast,
      // Reads and writes go to masters: a replica may not have the latest counts yet.
      scaleReads: 'master',
      // A killed master's slots move to its replica after cluster-node-timeout; ask for the new
      // layout often enough to find it within a few seconds, and retry MOVED/CLUSTERDOWN meanwhile.
      slotsRefreshInterval: 2_000,
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      clusterRetryStrategy: options.fast ? () => null : (attempt) => Math.min(attempt * 200, 2_000),
      redisOptions: {
        ...connection,
        username: url.username ? decodeURIComponent(url.username) : undefined,
        password: url.password ? decodeURIComponent(url.password) : undefined,
        maxRetriesPerRequest: options.fast ? 0 : null,
      },
    };
    return new Cluster(config.clusterNodes, clusterOptions);
  }
  return new Redis(config.url, {
    ...connection,
    lazyConnect: options.lazy ?? false,
    maxRetriesPerRequest: options.fast ? 0 : null,
    enableOfflineQueue: !options.fast,
    retryStrategy: options.fast ? () => null : (attempt) => Math.min(attempt * 200, 2_000),
  });
}

/** Resolves when Redis answers PING (on a cluster: every master, and its slots are all served); rejects quickly when not. */
export async function probeRedis(config: Config['redis']): Promise<void> {
  const redis = createRedis(config, { fast: true, lazy: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    if (redis instanceof Cluster) {
      await Promise.all(redis.nodes('master').map((node) => node.ping()));
      const info = String(await redis.cluster('INFO'));
      if (!/cluster_state:ok/.test(info)) throw new Error('the Redis Cluster does not serve every slot (cluster_state is not ok)');
    } else {
      await redis.ping();
    }
  } finally {
    redis.disconnect();
  }
}

/** Where Redis is, without credentials, for messages: host:port, or the cluster's seed nodes. */
export function redisAddress(config: Config['redis']): string {
  if (config.clusterNodes) return config.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',');
  const url = new URL(config.url);
  return `${url.hostname || '127.0.0.1'}:${url.port || 6379}`;
}

/** What to call Redis in a message: the URL without its password, or the cluster's seed nodes. */
export function describeRedis(config: Config['redis']): string {
  return config.clusterNodes ? `Redis Cluster ${redisAddress(config)}` : redactRedisUrl(config.url);
}

/** The URL without its password, for messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//[redacted]@');
}

/** The masters that hold the data: the nodes to ask about settings (CONFIG is per node). */
export function redisMasters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/**
 * Deletes every key under `prefix`, on one Redis or a cluster alike: SCAN is per node, so each
 * master is scanned, and keys are deleted one per command (they may be in different slots).
 * Returns how many it deleted.
 */
export async function deleteKeysUnder(redis: RedisClient, prefix: string): Promise<number> {
  let deleted = 0;
  for (const node of redisMasters(redis)) {
    for await (const batch of node.scanStream({ match: `${prefix}*`, count: 500 })) {
      const counts = await Promise.all((batch as string[]).map((key) => redis.del(key)));
      deleted += counts.reduce((a, b) => a + b, 0);
    }
  }
  return deleted;
}
