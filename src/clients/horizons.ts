/**
 * How long each part keeps what the guarantee leans on, checked when a process starts
 * (docs/design.md, "Horizons"):
 *
 * - Kafka keeps the input's records for the topic's retention.ms;
 * - Kafka keeps a group's committed offsets (and the bridge's incarnation tokens and intents in
 *   their metadata) for offsets.retention.minutes after the group is left empty;
 * - Temporal keeps a finished batch for the namespace's retention: the bridge finds the batches
 *   of an earlier run there, by intent or by history.
 *
 * A record still in Kafka after the offsets or the batch that covered it are forgotten could be
 * handed off twice; each shorter horizon is said in one warning. Redis must never evict: a
 * dropped exactly-once marker with its counts kept would count a batch twice; a Redis that
 * evicts is refused.
 */
import type { Client } from '@temporalio/client';
import { ConfigResourceTypes, type Admin } from 'kafkajs';
import { PipelineError } from '../errors';
import type { Logger } from '../log';
import { redisMasters, type RedisClient } from './redis';

const HOUR_MS = 3_600_000;

export interface HorizonReadings {
  /** Undefined: kept for ever (retention.ms -1) or not readable. */
  recordsMs?: number;
  offsetsMs?: number;
  batchesMs?: number;
}

/** Reads the three horizons; a part it may not read is left out (and said at debug level). */
export async function readHorizons(admin: Admin, client: Client, namespace: string, topic: string, logger: Logger): Promise<HorizonReadings> {
  const [recordsMs, offsetsMs, batchesMs] = await Promise.all([
    topicRetentionMs(admin, topic).catch((err: unknown) => void logger.debug({ err }, 'Could not read the input topic retention')),
    offsetsRetentionMs(admin).catch((err: unknown) => void logger.debug({ err }, "Could not read the broker's offsets.retention.minutes")),
    namespaceRetentionMs(client, namespace).catch((err: unknown) => void logger.debug({ err }, "Could not read the namespace's retention")),
  ]);
  return { recordsMs: recordsMs ?? undefined, offsetsMs: offsetsMs ?? undefined, batchesMs: batchesMs ?? undefined };
}

/** One sentence per horizon shorter than the records': what could happen and what to set. */
export function horizonWarnings(h: HorizonReadings, names: { topic: string; groupId: string; namespace: string }): string[] {
  const warnings: string[] = [];
  if (h.recordsMs === undefined) return warnings;
  if (h.batchesMs !== undefined && h.batchesMs < h.recordsMs) {
    warnings.push(
      `Temporal keeps finished batches for ${hours(h.batchesMs)} but Kafka keeps the records of ${names.topic} for ${hours(h.recordsMs)}: ` +
        `a bridge stopped for longer than ${hours(h.batchesMs)} could hand a batch off a second time; ` +
        `raise the retention of namespace ${names.namespace} (temporal operator namespace update --retention ${Math.ceil(h.recordsMs / HOUR_MS)}h ${names.namespace}).`,
    );
  }
  if (h.offsetsMs !== undefined && h.offsetsMs < h.recordsMs) {
    warnings.push(
      `Kafka forgets the committed offsets of group ${names.groupId} ${hours(h.offsetsMs)} after it is left empty but keeps the records of ${names.topic} for ${hours(h.recordsMs)}: ` +
        `a bridge stopped for longer than that finds no offsets and, to hand nothing off twice, refuses to start; raise the brokers' offsets.retention.minutes.`,
    );
  }
  return warnings;
}

export async function warnAboutHorizons(admin: Admin, client: Client, names: { topic: string; groupId: string; namespace: string }, logger: Logger): Promise<void> {
  const readings = await readHorizons(admin, client, names.namespace, names.topic, logger);
  for (const warning of horizonWarnings(readings, names)) logger.warn({ horizons: readings }, warning);
}

/** Redis refuses to be used when it may evict keys. */
export class RedisEvictsError extends PipelineError {
  override name = 'RedisEvictsError';
}

/**
 * Throws RedisEvictsError when Redis would evict keys when full; warns when it will not say. On a
 * cluster every master is asked: CONFIG is a setting of each node.
 */
export async function checkRedisKeepsKeys(redis: RedisClient, address: string, logger: Logger): Promise<void> {
  for (const node of redisMasters(redis)) {
    const where = redisMasters(redis).length > 1 ? `${node.options.host}:${node.options.port}` : address;
    let policy: string | undefined;
    let maxmemory: number;
    try {
      const [, policyValue] = (await node.config('GET', 'maxmemory-policy')) as string[];
      const [, maxmemoryValue] = (await node.config('GET', 'maxmemory')) as string[];
      policy = policyValue;
      maxmemory = Number(maxmemoryValue ?? 0);
    } catch (err) {
      logger.warn({ err }, `Could not read Redis's maxmemory-policy at ${where} (CONFIG is not allowed): make sure it is noeviction, or a full Redis could drop exactly-once markers.`);
      continue;
    }
    if (maxmemory > 0 && policy !== undefined && policy !== 'noeviction') {
      throw new RedisEvictsError(
        `Redis at ${where} evicts keys when it is full (maxmemory-policy ${policy}): it could drop a batch's exactly-once marker and keep its counts; set maxmemory-policy noeviction (or maxmemory 0).`,
      );
    }
  }
}

async function topicRetentionMs(admin: Admin, topic: string): Promise<number | undefined> {
  const value = await configValue(admin, ConfigResourceTypes.TOPIC, topic, 'retention.ms');
  return value === undefined || Number(value) < 0 ? undefined : Number(value);
}

async function offsetsRetentionMs(admin: Admin): Promise<number | undefined> {
  const { brokers } = await admin.describeCluster();
  const broker = brokers[0];
  if (!broker) return undefined;
  const value = await configValue(admin, ConfigResourceTypes.BROKER, String(broker.nodeId), 'offsets.retention.minutes');
  return value === undefined ? undefined : Number(value) * 60_000;
}

async function namespaceRetentionMs(client: Client, namespace: string): Promise<number | undefined> {
  const described = await client.workflowService.describeNamespace({ namespace });
  const ttl = described.config?.workflowExecutionRetentionTtl;
  return ttl?.seconds === undefined || ttl.seconds === null ? undefined : Number(ttl.seconds) * 1000;
}

async function configValue(admin: Admin, type: ConfigResourceTypes, name: string, config: string): Promise<string | undefined> {
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type, name, configNames: [config] }] });
  return described.resources[0]?.configEntries.find((e) => e.configName === config)?.configValue;
}

function hours(ms: number): string {
  const h = ms / HOUR_MS;
  return h >= 48 && h % 24 === 0 ? `${h / 24} days` : `${Math.round(h * 10) / 10} h`;
}
