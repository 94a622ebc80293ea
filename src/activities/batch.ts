/**
 * The batch activity: read the batch's records from Kafka, transform them, apply the aggregates
 * to Redis exactly once, and publish logins and dead letters in a Kafka transaction that also
 * moves the lane's mark (src/clients/transactions.ts). Built by a factory from clients the
 * worker owns. docs/design.md explains why each step is where it is; in short:
 *
 * - Aggregates first, each chunk under its own marker in Redis: an outage of Redis then fails
 *   the attempt before anything is published, and a retry finds the counts already applied.
 * - Then one transaction per chunk, fencing every earlier attempt of the lane: whatever attempt
 *   committed a chunk, readers with isolation read_committed see it once.
 * - An attempt that is cancelled (its timeout passed) stops before it publishes; one that does not
 *   notice is fenced by the next attempt's producer.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { byPartition } from '../clients/partitioned-send';
import { kafkajsPartitionMetadata } from '../clients/kafka';
import { encodeAsBroker } from '../clients/produce-encoding';
import type { RangeReader, RangeRecord } from '../clients/range-reader';
import { linkRecordTraces, outputTraceparent } from '../clients/tracing';
import type { LaneTransactions, Outgoing } from '../clients/transactions';
import type { Config } from '../config';
import { aggregateLogins } from '../domain/aggregates';
import { chunkMark, INVALID_BATCH_INPUT, SUPERSEDED_BATCH, type BatchSpec, type Lane } from '../domain/batch';
import { decodeRecords, type LegacyBatchMeta } from '../domain/blob';
import { deadLetterHeaders } from '../domain/dead-letter';
import { appVersionPattern, transformRecord, type TransformContext } from '../domain/transform';
import type { BatchResult, DeadLetterReason, ProcessedLogin, Rejection } from '../domain/types';
import { CancelledError } from '../errors';
import type { InsightsStore } from '../insights/store';
import type { WorkerMetrics } from '../metrics';
import { readAhead } from '../process/read-ahead';
import type { IncarnationCheck } from './incarnation';
import { validateBatchSpec } from './validate';

export interface BatchActivityDeps {
  reader: RangeReader;
  transactions: LaneTransactions;
  incarnations: IncarnationCheck;
  store: InsightsStore;
  config: Pick<Config, 'kafka' | 'aggregates' | 'worker' | 'batch' | 'rules'>;
  metrics?: WorkerMetrics;
}

/** The record rules as this worker applies them: the contract's, and what configuration adds. */
export interface RuleSettings {
  ipMasking: Config['worker']['ipMasking'];
  outputMaxMessageBytes: number;
  appVersionPattern?: RegExp;
}

export function ruleSettings(config: Pick<Config, 'worker' | 'rules'>): RuleSettings {
  return {
    ipMasking: config.worker.ipMasking,
    outputMaxMessageBytes: config.worker.outputMaxMessageBytes,
    appVersionPattern: appVersionPattern(config.rules.appVersionExtraPattern),
  };
}

/** A record as it comes out: a login ready to publish (its JSON and size), or why not. */
export type OutputOutcome = { ok: true; login: ProcessedLogin; json: string; bytes: number } | { ok: false; rejection: Rejection };

interface DeadLetter {
  record: RangeRecord;
  rejection: Rejection;
}

interface Transformed {
  logins: { login: ProcessedLogin; json: string; bytes: number }[];
  deadLetters: DeadLetter[];
}

/** Where a batch's records come from and how it publishes them. */
interface BatchContext {
  batchId: string;
  topic: string;
  lane: Lane;
  /** The topic whose partition 0 carries the lane's mark. */
  anchorTopic: string;
  /** Set for a batch re-driven too often: its unpublished records become dead letters saying this. */
  deadLetterAll?: string;
  processedAtMs: number;
  signal: AbortSignal;
}

/**
 * A batch's context, always built here with the same fields in the same order: V8 then gives every
 * context one shape, the rehearsal's included (see rehearseChunk), and the code compiled for the
 * rehearsal stays valid for real batches.
 */
function batchContext(batchId: string, topic: string, lane: Lane, deadLetterAll: string | undefined, processedAtMs: number, signal: AbortSignal): BatchContext {
  return { batchId, topic, lane, anchorTopic: topic, deadLetterAll, processedAtMs, signal };
}

/**
 * The batch work itself, with the attempt's cancellation given explicitly: run by the activities
 * below in the worker process, or in a worker engine (src/worker/engine.ts) that the worker
 * process hands batches to.
 */
export function createBatchWork(deps: BatchActivityDeps) {
  const rules = ruleSettings(deps.config);
  /** A batch of offset ranges (docs/design.md, "The hand-off"). */
  async function processRanges(spec: BatchSpec, processedAtMs: number, signal: AbortSignal, onChunkDone?: (records: number) => void): Promise<BatchResult> {
    const problem = validateBatchSpec(spec);
    if (problem) throw ApplicationFailure.nonRetryable(`The batch input is malformed: ${problem}.`, INVALID_BATCH_INPUT);
    if (spec.void) return emptyResult(spec.batchId);
    const superseded = await deps.incarnations.check(spec);
    if (superseded) throw ApplicationFailure.nonRetryable(superseded, SUPERSEDED_BATCH);
    const chunks = deps.reader.read(spec.topic, spec.ranges, { chunkBytes: deps.config.batch.maxBytes, signal });
    return publishBatch(deps, rules, batchContext(spec.batchId, spec.topic, spec.lane, spec.deadLetter?.error, processedAtMs, signal), chunks, onChunkDone);
  }

  /**
   * A batch of the first hand-off, whose records travel in its input (src/domain/blob.ts): kept
   * so that workflows started before an upgrade finish after it. Its lane is its own.
   */
  async function handleBatch(meta: LegacyBatchMeta, blob: Uint8Array, processedAtMs: number, signal: AbortSignal): Promise<BatchResult> {
    let records: RangeRecord[];
    try {
      records = (await decodeRecords(blob, meta?.encoding)).map((r) => ({ ...r, partition: meta.partition }));
    } catch (err) {
      throw ApplicationFailure.nonRetryable(`The batch input is malformed: ${err instanceof Error ? err.message : String(err)}.`, INVALID_BATCH_INPUT);
    }
    if (typeof meta.batchId !== 'string' || typeof meta.topic !== 'string' || records.length !== meta.count) {
      throw ApplicationFailure.nonRetryable('The batch input is malformed: its metadata does not match its records.', INVALID_BATCH_INPUT);
    }
    const lane = { id: `${meta.batchId}/first-hand-off`, seq: 1 };
    return publishBatch(deps, rules, batchContext(meta.batchId, meta.topic, lane, undefined, processedAtMs, signal), once(records));
  }

  return { processRanges, handleBatch };
}

export type BatchWork = ReturnType<typeof createBatchWork>;

/** The batch activities, as Temporal calls them: the attempt's cancellation from its context. */
export function batchActivities(work: BatchWork) {
  return {
    processRanges: (spec: BatchSpec, processedAtMs: number = spec.cutAtMs) => work.processRanges(spec, processedAtMs, cancellation()),
    handleBatch: (meta: LegacyBatchMeta, blob: Uint8Array, processedAtMs: number) => work.handleBatch(meta, blob, processedAtMs, cancellation()),
  };
}

export type BatchActivities = ReturnType<typeof batchActivities>;

/** The attempt's cancellation: set when its timeout passed or its workflow went away. */
function cancellation(): AbortSignal {
  return Context.current().cancellationSignal;
}

/** `onChunkDone`: told each chunk's records once they are published and counted, so that a worker's engines can be given work by what they have left. */
async function publishBatch(
  deps: BatchActivityDeps,
  rules: RuleSettings,
  ctx: BatchContext,
  chunks: AsyncIterable<RangeRecord[]>,
  onChunkDone?: (records: number) => void,
): Promise<BatchResult> {
  const { metrics } = deps;
  const stopTimer = metrics?.batchDuration.startTimer();
  const result = emptyResult(ctx.batchId);
  const lease = deps.transactions.lease(ctx.lane.id);
  try {
    let chunk = 0;
    for await (const records of readAhead(chunks)) {
      const outcome = await publishChunk(deps, rules, ctx, lease, records, chunk++);
      add(result, outcome);
      onChunkDone?.(records.length);
    }
  } finally {
    lease.release();
  }
  recordMetrics(metrics, result);
  stopTimer?.();
  return result;
}

async function publishChunk(
  deps: BatchActivityDeps,
  rules: RuleSettings,
  ctx: BatchContext,
  lease: ReturnType<LaneTransactions['lease']>,
  records: RangeRecord[],
  chunk: number,
): Promise<BatchResult> {
  const { config, metrics, store } = deps;
  const markerId = `${ctx.batchId}#${chunk}`;
  linkRecordTraces(records);
  let transformed = transformChunk(records, ctx, rules);
  let aggregates = aggregateLogins(transformed.logins.map((l) => l.login), config.aggregates, ctx.processedAtMs);
  if (ctx.deadLetterAll !== undefined && !(await store.wasApplied(markerId, aggregates, ctx.processedAtMs))) {
    transformed = deadLetterEverything(records, ctx.deadLetterAll);
    aggregates = { deltas: [], late: 0 };
  }
  const deadLettersByReason = countByReason(transformed.deadLetters);
  const stopRedisTimer = metrics?.redisScriptDuration.startTimer();
  await store.applyBatch(markerId, aggregates, ctx.processedAtMs, deadLettersByReason);
  stopRedisTimer?.();
  if (ctx.signal.aborted) throw new CancelledError(`Publishing batch ${ctx.batchId}`, ctx.signal.reason);
  const stopPublishTimer = metrics?.publishDuration.startTimer();
  const outcome = await lease.publishOnce(ctx.anchorTopic, chunkMark(ctx.lane.seq, chunk), outgoing(ctx, config, transformed));
  stopPublishTimer?.();
  return {
    batchId: ctx.batchId,
    records: records.length,
    logins: transformed.logins.length,
    deadLetters: transformed.deadLetters.length,
    deadLettersByReason,
    late: aggregates.late,
    chunksAlreadyPublished: outcome === 'already-published' ? 1 : 0,
  };
}

export function transformChunk(records: readonly RangeRecord[], ctx: Pick<BatchContext, 'batchId' | 'topic' | 'processedAtMs'>, rules: RuleSettings): Transformed {
  const logins: Transformed['logins'] = [];
  const deadLetters: DeadLetter[] = [];
  const processedAt = new Date(ctx.processedAtMs).toISOString();
  for (const record of records) {
    if (record.deleted) {
      deadLetters.push({ record, rejection: { reason: 'processing_error', error: 'Kafka deleted the record (the topic\'s retention) before it was processed.' } });
      continue;
    }
    const source = { topic: ctx.topic, partition: record.partition, offset: record.offset };
    const outcome = transformForOutput(record.value, { source, batchId: ctx.batchId, nowMs: ctx.processedAtMs, processedAt }, rules);
    if (outcome.ok) logins.push(outcome);
    else deadLetters.push({ record, rejection: outcome.rejection });
  }
  return { logins, deadLetters };
}

/**
 * One record through the rules, and the size check of its output: a processed login larger than
 * OUTPUT_MAX_MESSAGE_BYTES is rejected too. The batch and the replay of dead letters share it.
 */
export function transformForOutput(value: Uint8Array | null, ctx: Omit<TransformContext, 'ipMasking' | 'appVersionPattern'>, rules: RuleSettings): OutputOutcome {
  const outcome = transformRecord(value, { ...ctx, ipMasking: rules.ipMasking, appVersionPattern: rules.appVersionPattern });
  if (!outcome.ok) return outcome;
  const json = JSON.stringify(outcome.login);
  const bytes = Buffer.byteLength(json);
  if (bytes > rules.outputMaxMessageBytes) {
    return {
      ok: false,
      rejection: { reason: 'processing_error', error: `The processed login would be ${bytes} bytes, over OUTPUT_MAX_MESSAGE_BYTES (${rules.outputMaxMessageBytes}).` },
    };
  }
  return { ok: true, login: outcome.login, json, bytes };
}

/**
 * A chunk's work between reading and publishing, without its I/O: the rules, the aggregates, the
 * outputs, their grouping by partition and their produce request's bytes. A worker engine runs it
 * on generated records when it starts (src/worker/warm-up.ts), so that its first batches run
 * compiled code. The records, the context and the messages have the shapes real ones have (V8
 * compiles for the shapes it has seen: code rehearsed on other shapes was thrown away at the first
 * real batch). Returns the bytes encoded.
 */
export async function rehearseChunk(config: Pick<Config, 'kafka' | 'aggregates'>, rules: RuleSettings, records: readonly RangeRecord[]): Promise<number> {
  const ctx = batchContext('rehearsal', config.kafka.inputTopic, { id: 'rehearsal', seq: 1 }, undefined, Date.now(), new AbortController().signal);
  const transformed = transformChunk(records, ctx, rules);
  const aggregates = aggregateLogins(transformed.logins.map((l) => l.login), config.aggregates, ctx.processedAtMs);
  countByReason(transformed.deadLetters);
  const sends = await byPartition(outgoing(ctx, config, transformed), async () => REHEARSAL_PARTITIONS);
  const topicData = sends.map(({ topic, partition, items }) => ({ topic, partitions: [kafkajsPartitionData(partition, items.map((o) => o.message))] }));
  const bytes = await encodeAsBroker({ topicData, transactionalId: ctx.lane.id, producerId: '0', producerEpoch: 0 });
  return bytes + aggregates.deltas.length;
}

interface PartitionData {
  partition: number;
  messages: Outgoing['message'][];
  firstSequence?: number;
}

/** A partition's part of a produce request, built as kafkajs builds it (createTopicData, then sendMessages sets the sequence). */
function kafkajsPartitionData(partition: number, messages: Outgoing['message'][]): PartitionData {
  const entry: PartitionData = { partition, messages };
  entry.firstSequence = 0;
  return entry;
}

/** Partitions as kafkajs's metadata has them, for the rehearsal's partitioner. */
const REHEARSAL_PARTITIONS = [0, 1, 2, 3].map((partitionId) => kafkajsPartitionMetadata(partitionId, 0));

function deadLetterEverything(records: readonly RangeRecord[], error: string): Transformed {
  return { logins: [], deadLetters: records.map((record) => ({ record, rejection: { reason: 'processing_error', error } })) };
}

function outgoing(ctx: BatchContext, config: Pick<Config, 'kafka'>, transformed: Transformed): Outgoing[] {
  const failedAt = new Date(ctx.processedAtMs).toISOString();
  // The batch activity's span, when tracing is on: each output continues the batch's trace.
  const traceparent = outputTraceparent();
  const trace = traceparent ? { traceparent } : {};
  // One headers object for every login of the chunk (they are the same, and kafkajs only reads them).
  const loginHeaders = { type: 'login', ...trace };
  return [
    ...transformed.logins.map(({ login, json, bytes }) => ({
      topic: config.kafka.outputTopic,
      message: { key: login.user_id, value: json, headers: loginHeaders },
      size: bytes + login.user_id.length * 3 + 16,
      offset: login.source.offset,
    })),
    ...transformed.deadLetters.map(({ record, rejection }) => ({
      topic: config.kafka.dlqTopic,
      message: {
        key: record.key,
        value: record.value,
        headers: { ...deadLetterHeaders({ topic: ctx.topic, partition: record.partition, offset: record.offset }, ctx.batchId, rejection, failedAt), ...trace },
      },
      size: (record.value?.length ?? 0) + (record.key?.length ?? 0) + 512,
      offset: record.offset,
    })),
  ];
}

function countByReason(deadLetters: DeadLetter[]): Partial<Record<DeadLetterReason, number>> {
  const byReason: Partial<Record<DeadLetterReason, number>> = {};
  for (const d of deadLetters) byReason[d.rejection.reason] = (byReason[d.rejection.reason] ?? 0) + 1;
  return byReason;
}

function emptyResult(batchId: string): BatchResult {
  return { batchId, records: 0, logins: 0, deadLetters: 0, deadLettersByReason: {}, late: 0, chunksAlreadyPublished: 0 };
}

function add(total: BatchResult, part: BatchResult): void {
  total.records += part.records;
  total.logins += part.logins;
  total.deadLetters += part.deadLetters;
  total.late += part.late;
  total.chunksAlreadyPublished += part.chunksAlreadyPublished;
  for (const [reason, n] of Object.entries(part.deadLettersByReason) as [DeadLetterReason, number][]) {
    total.deadLettersByReason[reason] = (total.deadLettersByReason[reason] ?? 0) + n;
  }
}

async function* once<T>(value: T): AsyncGenerator<T> {
  yield value;
}

function recordMetrics(metrics: WorkerMetrics | undefined, result: BatchResult): void {
  if (!metrics) return;
  metrics.batches.inc();
  metrics.records.inc({ outcome: 'login' }, result.logins);
  metrics.records.inc({ outcome: 'dead_letter' }, result.deadLetters);
  for (const [reason, n] of Object.entries(result.deadLettersByReason)) metrics.deadLetters.inc({ reason }, n);
  metrics.lateRecords.inc(result.late);
  metrics.chunksAlreadyPublished.inc(result.chunksAlreadyPublished);
}
