/**
 * The Kafka bridge: a consumer in KAFKA_GROUP_ID on INPUT_TOPIC that cuts each partition into
 * batches and hands each to a Temporal workflow (src/bridge/handoff.ts). Offsets are committed
 * only after Temporal has acknowledged the batch holding them, only up to the end of a batch,
 * and only for partitions the bridge still owns.
 */
import type { Client } from '@temporalio/client';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { FastJavaCompatiblePartitioner } from '../clients/partitioner';
import { DEAD_LETTER_HEADROOM_BYTES, explainProduceError, topicMaxMessageBytes } from '../clients/topics';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config';
import { batchId } from '../domain/batch';
import { deadLetterHeaders } from '../domain/dead-letter';
import type { Logger } from '../log';
import type { BridgeMetrics } from '../metrics';
import { isOversized, sized, takeChunk, type SizedRecord } from './chunker';
import { buildBatch, handOff, type HandOffResult } from './handoff';
import { InFlight } from './inflight';

export interface BridgeDeps {
  kafka: Kafka;
  client: Client;
  config: Pick<Config, 'kafka' | 'temporal' | 'batch'>;
  logger: Logger;
  metrics?: BridgeMetrics;
}

type TopicPartition = string;

const tp = (topic: string, partition: number): TopicPartition => `${topic}:${partition}`;
const RETRY_DELAYS_MS = [200, 500, 1000, 2000, 5000];

export class Bridge {
  private readonly consumer: Consumer;
  private readonly inFlight: InFlight;
  /** Per partition, the last offset known to be in a workflow: fetched records up to it are skipped. */
  private readonly covered = new Map<TopicPartition, bigint>();
  /** Partitions of the current generation; commits go only to these. */
  private assigned = new Set<TopicPartition>();
  private joined = false;
  private stopping = false;
  private crashed: Error | undefined;
  private deadLetterProducer: Producer | undefined;
  private reportFatal: (err: Error) => void = () => undefined;
  /** Settles when the consumer has crashed for good (kafkajs will not restart it). */
  readonly fatal = new Promise<Error>((resolve) => (this.reportFatal = resolve));

  constructor(private readonly deps: BridgeDeps) {
    const { config } = deps;
    this.consumer = deps.kafka.consumer({
      groupId: config.kafka.groupId,
      // The broker holds a fetch until a batch's worth of bytes arrived or BATCH_MAX_WAIT_MS passed:
      // that is the batching by time, with no timer of ours.
      maxWaitTimeInMs: config.batch.maxWaitMs,
      minBytes: Math.min(config.batch.maxRecords * 200, 1024 * 1024),
      maxBytesPerPartition: Math.max(2 * config.batch.maxBytes, 1024 * 1024),
      // A dead bridge's partitions move to the others after 10 s rather than the default 30.
      sessionTimeout: 10_000,
      heartbeatInterval: 3_000,
      rebalanceTimeout: 60_000,
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    this.inFlight = new InFlight(
      config.batch.maxInFlight,
      deps.logger,
      {
        onFull: () => this.setPaused(true),
        onRoom: () => this.setPaused(false),
        onCompleted: (_result, seconds) => deps.metrics?.batchLatency.observe(seconds),
      },
      deps.metrics,
    );
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      this.assigned = new Set(
        Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((p) => tp(topic, p))),
      );
      this.joined = true;
      deps.logger.info({ assigned: [...this.assigned] }, 'Joined the consumer group');
    });
    this.consumer.on(this.consumer.events.REBALANCING, () => {
      this.assigned = new Set();
      this.joined = false;
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) {
        this.crashed = payload.error;
        deps.logger.error({ err: payload.error.message }, 'Kafka consumer crashed and will not restart');
        this.reportFatal(payload.error);
      } else {
        deps.logger.warn({ err: payload.error.message }, 'Kafka consumer crashed; restarting');
      }
    });
  }

  async start(): Promise<void> {
    const { config } = this.deps;
    await this.warnIfDeadLettersCannotFit();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: config.kafka.inputTopic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  /** Stop fetching, let the hand-offs under way finish and commit, leave the group. */
  async stop(timeoutMs = 20_000): Promise<void> {
    this.stopping = true;
    const disconnected = this.consumer.disconnect();
    const outcome = await Promise.race([disconnected.then(() => 'done' as const), sleep(timeoutMs, undefined, { ref: false }).then(() => 'timeout' as const)]);
    if (outcome === 'timeout') this.deps.logger.warn({ timeoutMs }, 'Consumer did not stop in time; uncommitted batches will be re-read and found started');
    this.inFlight.close();
    await this.deadLetterProducer?.disconnect().catch(() => undefined);
  }

  readiness(): Record<string, boolean> {
    return { kafka: this.joined && !this.crashed };
  }

  get inFlightBatches(): number {
    return this.inFlight.size;
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const key = tp(batch.topic, batch.partition);
    const shouldStop = () => this.stopping || !isRunning() || isStale();
    const covered = this.covered.get(key);
    const fetched = batch.messages.map(sized);
    let pending = covered === undefined ? fetched : dropCovered(fetched, covered);
    resolveSkipped(batch.messages, pending, resolveOffset);
    let toCommit: bigint | undefined;
    while (pending.length > 0 && !shouldStop()) {
      await this.inFlight.waitForRoom(shouldStop, heartbeat);
      if (shouldStop()) break;
      const result = await this.handOffWithRetry(batch.topic, batch.partition, pending, shouldStop, heartbeat);
      if (!result) break;
      this.covered.set(key, result.coveredThrough);
      toCommit = result.coveredThrough + 1n;
      pending = dropCovered(pending, result.coveredThrough);
      const fetchedThrough = BigInt(batch.lastOffset());
      resolveOffset(String(result.coveredThrough < fetchedThrough ? result.coveredThrough : fetchedThrough));
      await heartbeat();
    }
    if (toCommit !== undefined && !isStale()) await this.commit(batch.topic, batch.partition, toCommit, batch.highWatermark);
  }

  /**
   * Hands off the next batch from `pending`, retrying while Temporal is unreachable. Returns
   * undefined only when the bridge is stopping or lost the partition.
   */
  private async handOffWithRetry(
    topic: string,
    partition: number,
    pending: SizedRecord[],
    shouldStop: () => boolean,
    heartbeat: () => Promise<void>,
  ): Promise<Pick<HandOffResult, 'coveredThrough'> | undefined> {
    const { config, client, metrics, logger } = this.deps;
    for (let attempt = 0; !shouldStop(); attempt++) {
      const oversized = isOversized(pending[0]!);
      try {
        if (oversized) return await this.deadLetterOversized(topic, partition, pending[0]!);
        const chunk = takeChunk(pending, config.batch.maxRecords, config.batch.maxBytes);
        const batch = buildBatch(config.kafka.groupId, topic, partition, chunk.map((m) => m.record));
        const stopTimer = metrics?.handOffDuration.startTimer();
        const result = await handOff({ client, groupId: config.kafka.groupId, taskQueue: config.temporal.taskQueue }, batch);
        stopTimer?.();
        metrics?.batches.inc({ result: result.outcome });
        metrics?.records.inc(chunk.length);
        if (result.outcome === 'adopted') {
          logger.info({ workflowId: result.workflowId, coveredThrough: String(result.coveredThrough) }, 'Batch already started by an earlier run; skipping past it');
        }
        this.inFlight.track(result.workflowId, result.handle);
        return result;
      } catch (err) {
        const delay = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]!;
        logger.warn(
          { err: (err as Error).message, topic, partition, attempt, retryInMs: delay },
          oversized ? 'Dead-lettering a record too large for Temporal failed; retrying' : 'Hand-off to Temporal failed; retrying',
        );
        await sleep(delay);
        await heartbeat().catch(() => undefined);
      }
    }
    return undefined;
  }

  /**
   * Dead letters carry their input record unchanged: a DLQ that cannot take the input's largest
   * record plus headers would refuse one, and its partition would wait until an operator raised
   * the DLQ's limit. Said at start, before such a record arrives.
   */
  private async warnIfDeadLettersCannotFit(): Promise<void> {
    const { kafka, config, logger } = this.deps;
    const { inputTopic, dlqTopic } = config.kafka;
    const sizes = await topicMaxMessageBytes(kafka, [inputTopic, dlqTopic]);
    const input = sizes.get(inputTopic);
    const dlq = sizes.get(dlqTopic);
    if (input === undefined || dlq === undefined || dlq >= input + DEAD_LETTER_HEADROOM_BYTES) return;
    logger.warn(
      { inputTopic, inputMaxMessageBytes: input, dlqTopic, dlqMaxMessageBytes: dlq },
      `The dead-letter topic ${dlqTopic} takes messages up to ${dlq} bytes, but a dead letter of ${inputTopic}'s largest record needs ${input + DEAD_LETTER_HEADROOM_BYTES}: raise its max.message.bytes, or a large bad record will hold up its partition`,
    );
  }

  /** A record too large for any Temporal payload: dead-lettered here, so it is neither lost nor retried forever. */
  private async deadLetterOversized(topic: string, partition: number, message: SizedRecord): Promise<{ coveredThrough: bigint }> {
    const { kafka, config, logger } = this.deps;
    if (!this.deadLetterProducer) {
      this.deadLetterProducer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: FastJavaCompatiblePartitioner });
      await this.deadLetterProducer.connect();
    }
    const { offset, key, value } = message.record;
    const rejection = {
      reason: 'processing_error' as const,
      error: `The record is too large to hand to Temporal (about ${message.size} bytes encoded).`,
    };
    const headers = deadLetterHeaders({ topic, partition, offset }, batchId(config.kafka.groupId, topic, partition, offset), rejection, new Date().toISOString());
    await this.deadLetterProducer
      .send({ topic: config.kafka.dlqTopic, acks: -1, messages: [{ key, value, headers }] })
      .catch((err: unknown) => {
        throw explainProduceError(err, { topic: config.kafka.dlqTopic, size: message.size, offset });
      });
    logger.warn({ topic, partition, offset, bytes: message.size }, 'Dead-lettered a record too large for a Temporal payload');
    return { coveredThrough: BigInt(offset) };
  }

  private async commit(topic: string, partition: number, offset: bigint, highWatermark: string): Promise<void> {
    if (!this.assigned.has(tp(topic, partition))) return;
    try {
      await this.consumer.commitOffsets([{ topic, partition, offset: String(offset) }]);
      this.deps.metrics?.commits.inc();
      this.deps.metrics?.lag.set({ topic, partition: String(partition) }, Math.max(0, Number(BigInt(highWatermark) - offset)));
    } catch (err) {
      // Lost to a rebalance: the next owner re-reads from the previous commit and finds the batches started.
      this.deps.logger.warn({ err: (err as Error).message, topic, partition }, 'Offset commit failed; the batches will be found already started');
    }
  }

  private setPaused(paused: boolean): void {
    const topics = [{ topic: this.deps.config.kafka.inputTopic }];
    if (paused) this.consumer.pause(topics);
    else this.consumer.resume(topics);
    this.deps.metrics?.paused.set(paused ? 1 : 0);
  }
}

/**
 * Drops the messages a workflow already holds (handed off just now, or re-read after a crash or
 * rebalance). Messages are in offset order, so only the covered prefix is looked at.
 */
function dropCovered(messages: SizedRecord[], coveredThrough: bigint): SizedRecord[] {
  const firstUncovered = messages.findIndex((m) => BigInt(m.record.offset) > coveredThrough);
  return firstUncovered === -1 ? [] : messages.slice(firstUncovered);
}

/** Resolves the fetched messages that were skipped as already covered, so kafkajs moves past them. */
function resolveSkipped(all: { offset: string }[], pending: SizedRecord[], resolveOffset: (offset: string) => void): void {
  const skipped = all.length - pending.length;
  if (skipped > 0) resolveOffset(all[skipped - 1]!.offset);
}

