/** Redis from Debian's packages, with append-only persistence so aggregates survive a restart. */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Config } from '../config';
import { createRedis } from '../clients/redis';
import type { DebianPackage } from './apt';
import type { StackLayout } from './layout';
import { startDetached, which } from './proc';
import type { Service } from './service';

/** TLS for trying rediss:// clients locally: the server's certificate and key (PEM). */
export interface RedisTls {
  certFile: string;
  keyFile: string;
}

export function redisService(config: Config, layout: StackLayout, tls?: RedisTls): Service {
  const url = new URL(config.redis.url);
  const host = url.hostname || '127.0.0.1';
  const port = Number(url.port || 6379);
  return {
    name: 'redis',
    label: 'Redis',
    address: `${host}:${port}`,
    proc: layout.redis,
    startTimeoutMs: 20_000,
    packages: [redisPackage(config)],
    isHealthy: () => redisAnswers(config),
    start: async () => {
      mkdirSync(layout.redis.dataDir, { recursive: true });
      writeFileSync(layout.redis.configFile, redisConf(layout, host, port, decodeURIComponent(url.password), tls));
      startDetached(layout.redis, redisServer(config)!, [layout.redis.configFile]);
    },
  };
}

export async function redisAnswers(config: Config): Promise<boolean> {
  const redis = createRedis(config.redis, { fast: true, lazy: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

function redisServer(config: Config): string | undefined {
  return which('redis-server', [...config.stack.searchPath, '/usr/sbin', '/usr/bin']);
}

export function redisPackage(config: Config): DebianPackage {
  return { name: 'redis-server', purpose: 'Redis', present: () => redisServer(config) !== undefined, elsewhere: 'macOS: brew install redis' };
}

function redisConf(layout: StackLayout, host: string, port: number, password: string, tls?: RedisTls): string {
  const listen = tls
    ? `port 0\ntls-port ${port}\ntls-cert-file ${tls.certFile}\ntls-key-file ${tls.keyFile}\ntls-auth-clients no`
    : `port ${port}`;
  return `# Written by the login-pipeline stack on each start; edit src/stack/redis.ts instead.
bind ${host}
${listen}
dir ${layout.redis.dataDir}
daemonize no
appendonly yes
appendfsync everysec
appenddirname appendonly
save 300 100
protected-mode yes
${password ? `requirepass ${password}\n` : ''}`;
}
