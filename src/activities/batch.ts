/**
 * The batch activity: transform every record, apply the aggregates to Redis exactly once, then
 * publish logins and dead letters to Kafka. Built by a factory from clients the worker owns.
 *
 * Order matters. Aggregates first: an outage of Redis then fails the attempt before anything is
 * published (no duplicate output), and an outage of Kafka retries a publish whose aggregates
 * are already guarded by their per-bucket markers (no double count). A retry after a crash
 * finds the batch's "published" mark and does not publish it again, except when the crash fell
 * between the publish and the mark: then, as the contract allows, a duplicate with the same
 * `source`.
 */
import type { Producer, Message } from 'kafkajs';
import { ApplicationFailure } from '@temporalio/common';
import { explainProduceError, type RefusedRecord } from '../clients/topics';
import { aggregateLogins } from '../domain/aggregates';
import { deadLetterHeaders } from '../domain/dead-letter';
import { decodeRecords } from '../domain/blob';
import { transformRecord } from '../domain/transform';
import type { BatchInput, BatchMeta, BatchResult, DeadLetterReason, ProcessedLogin, Rejection } from '../domain/types';
import type { InsightsStore } from '../insights/store';
import type { Config } from '../config';
import type { WorkerMetrics } from '../metrics';

export interface BatchActivityDeps {
  producer: Producer;
  store: InsightsStore;
  config: Pick<Config, 'kafka' | 'aggregates' | 'worker'>;
  metrics?: WorkerMetrics;
}

interface DeadLetter {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  rejection: Rejection;
}

interface Transformed {
  logins: { login: ProcessedLogin; json: string; bytes: number }[];
  deadLetters: DeadLetter[];
}

/** Keep each produce request's record batch well under the broker's default 1 MB message.max.bytes. */
const MAX_SEND_BYTES = 512 * 1024;

export function createBatchActivities(deps: BatchActivityDeps) {
  const { config, metrics } = deps;

  async function handleBatch(meta: BatchMeta, records: Uint8Array, processedAtMs: number): Promise<BatchResult> {
    const input = await decodeBatch(meta, records);
    const stopBatchTimer = metrics?.batchDuration.startTimer();
    const { logins, deadLetters } = transformBatch(input, processedAtMs, config);
    const aggregates = aggregateLogins(
      logins.map((l) => l.login),
      config.aggregates,
      processedAtMs,
    );
    const deadLettersByReason = countByReason(deadLetters);
    const stopRedisTimer = metrics?.redisScriptDuration.startTimer();
    await deps.store.applyBatch(input.batchId, aggregates, processedAtMs, deadLettersByReason);
    stopRedisTimer?.();
    const alreadyPublished = await deps.store.wasPublished(input.batchId, processedAtMs);
    if (alreadyPublished) {
      metrics?.republishSkipped.inc();
    } else {
      const stopPublishTimer = metrics?.publishDuration.startTimer();
      await publish(deps.producer, config, input, logins, deadLetters, processedAtMs);
      stopPublishTimer?.();
      await deps.store.markPublished(input.batchId, processedAtMs);
    }
    const result: BatchResult = {
      batchId: input.batchId,
      records: input.records.length,
      logins: logins.length,
      deadLetters: deadLetters.length,
      deadLettersByReason,
      late: aggregates.late,
      alreadyPublished,
    };
    recordMetrics(metrics, result);
    stopBatchTimer?.();
    return result;
  }

  return { handleBatch };
}

export type BatchActivities = ReturnType<typeof createBatchActivities>;

/** A malformed batch is a bug upstream, not an outage: retrying cannot help. */
async function decodeBatch(meta: BatchMeta, blob: Uint8Array): Promise<BatchInput> {
  let records: unknown;
  try {
    records = await decodeRecords(blob, meta?.encoding);
  } catch {
    records = undefined;
  }
  if (!meta || typeof meta.batchId !== 'string' || typeof meta.topic !== 'string' || !Array.isArray(records) || records.length !== meta.count) {
    throw ApplicationFailure.nonRetryable('The batch input is malformed: its metadata or its records do not decode.', 'InvalidBatchInput');
  }
  return { ...meta, records: records as BatchInput['records'] };
}

export function transformBatch(
  input: BatchInput,
  processedAtMs: number,
  config: Pick<Config, 'worker'>,
): Transformed {
  const logins: Transformed['logins'] = [];
  const deadLetters: DeadLetter[] = [];
  const processedAt = new Date(processedAtMs).toISOString();
  for (const record of input.records) {
    const { key, value } = record;
    const source = { topic: input.topic, partition: input.partition, offset: record.offset };
    const outcome = transformRecord(value, {
      source,
      batchId: input.batchId,
      nowMs: processedAtMs,
      processedAt,
      ipMasking: config.worker.ipMasking,
    });
    if (!outcome.ok) {
      deadLetters.push({ key, value, offset: record.offset, rejection: outcome.rejection });
      continue;
    }
    const json = JSON.stringify(outcome.login);
    const bytes = Buffer.byteLength(json);
    if (bytes > config.worker.outputMaxMessageBytes) {
      deadLetters.push({
        key,
        value,
        offset: record.offset,
        rejection: {
          reason: 'processing_error',
          error: `The processed login would be ${bytes} bytes, over OUTPUT_MAX_MESSAGE_BYTES (${config.worker.outputMaxMessageBytes}).`,
        },
      });
      continue;
    }
    logins.push({ login: outcome.login, json, bytes });
  }
  return { logins, deadLetters };
}

async function publish(
  producer: Producer,
  config: Pick<Config, 'kafka'>,
  input: BatchInput,
  logins: Transformed['logins'],
  deadLetters: DeadLetter[],
  processedAtMs: number,
): Promise<void> {
  const failedAt = new Date(processedAtMs).toISOString();
  const messages: Outgoing[] = [
    ...logins.map(({ login, json, bytes }) => ({
      topic: config.kafka.outputTopic,
      message: { key: login.user_id, value: json, headers: { type: 'login' } },
      size: bytes + login.user_id.length * 3 + 16,
      offset: login.source.offset,
    })),
    ...deadLetters.map((d) => ({
      topic: config.kafka.dlqTopic,
      message: { key: d.key, value: d.value, headers: deadLetterHeaders({ topic: input.topic, partition: input.partition, offset: d.offset }, input.batchId, d.rejection, failedAt) },
      size: (d.value?.length ?? 0) + (d.key?.length ?? 0) + 512,
      offset: d.offset,
    })),
  ];
  for (const chunk of chunksBySize(messages, MAX_SEND_BYTES)) {
    const byTopic = new Map<string, Message[]>();
    for (const { topic, message } of chunk) {
      const list = byTopic.get(topic);
      if (list) list.push(message);
      else byTopic.set(topic, [message]);
    }
    try {
      await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })) });
    } catch (err) {
      throw explainProduceError(err, largest(chunk));
    }
  }
}

interface Outgoing extends RefusedRecord {
  message: Message;
}

function largest(chunk: Outgoing[]): Outgoing {
  return chunk.reduce((a, b) => (b.size > a.size ? b : a));
}

function* chunksBySize<T extends { size: number }>(items: T[], maxBytes: number): Generator<T[]> {
  let chunk: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (chunk.length > 0 && bytes + item.size > maxBytes) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(item);
    bytes += item.size;
  }
  if (chunk.length > 0) yield chunk;
}

function countByReason(deadLetters: DeadLetter[]): Partial<Record<DeadLetterReason, number>> {
  const byReason: Partial<Record<DeadLetterReason, number>> = {};
  for (const d of deadLetters) byReason[d.rejection.reason] = (byReason[d.rejection.reason] ?? 0) + 1;
  return byReason;
}

function recordMetrics(metrics: WorkerMetrics | undefined, result: BatchResult): void {
  if (!metrics) return;
  metrics.batches.inc();
  metrics.records.inc({ outcome: 'login' }, result.logins);
  metrics.records.inc({ outcome: 'dead_letter' }, result.deadLetters);
  for (const [reason, n] of Object.entries(result.deadLettersByReason)) metrics.deadLetters.inc({ reason }, n);
  metrics.lateRecords.inc(result.late);
}
