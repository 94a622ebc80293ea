/** Where the local stack keeps its state (STACK_DIR) and its downloads (the cache, outside the clone). */
import { join } from 'node:path';
import type { Config } from '../config';
import type { ManagedProcess } from './proc';

export const KAFKA_VERSION = '3.9.1';
export const SCALA_VERSION = '2.13';
export const TEMPORAL_CLI_VERSION = '1.5.1';
/**
 * How long the local broker keeps a topic's records (log.retention.hours). Temporal keeps closed
 * runs at least as long (the namespace's retention), so that a batch can be traced from its records
 * to its run for as long as the records exist.
 */
export const KAFKA_LOG_RETENTION_HOURS = 168;

export interface StackLayout {
  dir: string;
  cacheDir: string;
  kafka: ManagedProcess & { dataDir: string; configFile: string; log4jFile: string; clusterIdFile: string };
  temporal: ManagedProcess & { dbFile: string };
  redis: ManagedProcess & { dataDir: string; configFile: string };
  kafkaLibs: string;
  temporalBinary: string;
}

export function stackLayout(config: Config): StackLayout {
  const dir = config.stack.dir;
  const cacheDir = config.stack.cacheDir;
  const managed = (name: string) => ({
    name,
    pidFile: join(dir, 'run', `${name}.pid`),
    logFile: join(dir, 'logs', `${name}.log`),
  });
  return {
    dir,
    cacheDir,
    kafka: {
      ...managed('kafka'),
      dataDir: join(dir, 'kafka', 'data'),
      configFile: join(dir, 'kafka', 'server.properties'),
      log4jFile: join(dir, 'kafka', 'log4j.properties'),
      clusterIdFile: join(dir, 'kafka', 'cluster-id'),
    },
    temporal: { ...managed('temporal'), dbFile: join(dir, 'temporal', 'temporal.db') },
    redis: { ...managed('redis'), dataDir: join(dir, 'redis'), configFile: join(dir, 'redis', 'redis.conf') },
    kafkaLibs: config.stack.kafkaHome
      ? join(config.stack.kafkaHome, 'libs')
      : join(cacheDir, `kafka_${SCALA_VERSION}-${KAFKA_VERSION}`, 'libs'),
    temporalBinary: join(cacheDir, `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal'),
  };
}

/** The lock of one provisioning step shared by every clone on the machine (the cache's downloads and builds, apt). */
export function cacheLock(config: Config, step: string): string {
  return join(config.stack.cacheDir, 'locks', `${step}.lock`);
}

/** The lock for starting one service of this STACK_DIR. */
export function startLock(layout: StackLayout, proc: ManagedProcess): string {
  return join(layout.dir, 'run', `${proc.name}.lock`);
}

export function hostAndPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}
