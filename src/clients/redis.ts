/** The one place an ioredis client is built: URL (redis:// or rediss://), password, TLS. */
import { readFileSync } from 'node:fs';
import Redis, { type RedisOptions } from 'ioredis';
import type { Config } from '../config';

/**
 * A command that gets no answer within this time fails (it may still run later: every write of
 * ours is idempotent). Well under a batch attempt's timeout (BATCH_ATTEMPT_TIMEOUT_MS), so that a
 * frozen Redis fails the attempt, which Temporal retries, rather than leaving it to hang past it.
 */
export function redisCommandTimeoutMs(config: Pick<Config, 'batch'>): number {
  return Math.min(DEFAULT_COMMAND_TIMEOUT_MS, Math.floor(config.batch.attemptTimeoutMs / 4));
}

const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

export function createRedis(config: Config['redis'], options: { fast?: boolean; lazy?: boolean; commandTimeoutMs?: number } = {}): Redis {
  const tls: RedisOptions['tls'] = config.url.startsWith('rediss://')
    ? { ca: config.tlsCaFile ? [readFileSync(config.tlsCaFile, 'utf8')] : undefined }
    : undefined;
  return new Redis(config.url, {
    tls,
    lazyConnect: options.lazy ?? false,
    connectTimeout: options.fast ? 1_000 : 10_000,
    commandTimeout: options.fast ? 2_000 : (options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS),
    maxRetriesPerRequest: options.fast ? 0 : null,
    enableOfflineQueue: !options.fast,
    retryStrategy: options.fast ? () => null : (attempt) => Math.min(attempt * 200, 2_000),
  });
}

/** Resolves when Redis answers PING; rejects quickly when it does not. */
export async function probeRedis(config: Config['redis']): Promise<void> {
  const redis = createRedis(config, { fast: true, lazy: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } finally {
    redis.disconnect();
  }
}

/** host:port of the Redis URL, without credentials, for messages. */
export function redisAddress(config: Config['redis']): string {
  const url = new URL(config.url);
  return `${url.hostname || '127.0.0.1'}:${url.port || 6379}`;
}

/** The URL without its password, for messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//[redacted]@');
}
