/** The one place an ioredis client is built: URL (redis:// or rediss://), password, TLS. */
import { readFileSync } from 'node:fs';
import Redis, { type RedisOptions } from 'ioredis';
import type { Config } from '../config';

export function createRedis(config: Config['redis'], options: { fast?: boolean; lazy?: boolean } = {}): Redis {
  const tls: RedisOptions['tls'] = config.url.startsWith('rediss://')
    ? { ca: config.tlsCaFile ? [readFileSync(config.tlsCaFile, 'utf8')] : undefined }
    : undefined;
  return new Redis(config.url, {
    tls,
    lazyConnect: options.lazy ?? false,
    connectTimeout: options.fast ? 1_000 : 10_000,
    maxRetriesPerRequest: options.fast ? 0 : null,
    enableOfflineQueue: !options.fast,
    retryStrategy: options.fast ? () => null : (attempt) => Math.min(attempt * 200, 2_000),
  });
}

/** The URL without its password, for messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//[redacted]@');
}
