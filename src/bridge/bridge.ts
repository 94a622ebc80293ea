/**
 * The Kafka bridge (docs/design.md, "The hand-off"). It joins KAFKA_GROUP_ID on INPUT_TOPIC only
 * to be given partitions: it never fetches a record. It watches each owned partition's last
 * stable offset and, when a batch is due (src/bridge/cutter.ts) and a lane is free
 * (src/bridge/lanes.ts), hands the new offset ranges of all its partitions to one workflow; the
 * worker reads the records from Kafka. Offsets are committed only after Temporal has the batch
 * holding them, only at batch ends, and each start is wrapped in an intent so that a bridge
 * taking a partition over hands nothing off twice (src/bridge/handoff.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Tracer } from '@opentelemetry/api';
import type { Client } from '@temporalio/client';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { ArrivalWatch } from '../clients/arrivals';
import { createCluster, type KafkajsCluster } from '../clients/kafka';
import { RangeReader } from '../clients/range-reader';
import { fetchCommittedOffsets } from '../clients/stable-offsets';
import { withBatchSpan } from '../clients/tracing';
import type { Config } from '../config';
import { batchId, batchWorkflowId, offsetCount, type BatchSpec, type OffsetRange } from '../domain/batch';
import { formatCommitMetadata } from '../domain/commit-metadata';
import { CancelledError, isRetriable, PipelineError } from '../errors';
import type { Logger } from '../log';
import type { BridgeMetrics } from '../metrics';
import { repeat } from '../process/repeat';
import { retry } from '../process/retry';
import { withDeadline } from '../process/wait';
import { BREAKER_OFF, CircuitBreaker, type BreakerState } from './breaker';
import { cutRanges, MAX_LOOK_MS, nextLookMs, pendingOffsets, shouldCut, type PartitionPosition } from './cutter';
import { startOrFind, type HandOffTarget } from './handoff';
import { Lanes } from './lanes';
import { resumePositions } from './positions';
import { FailedBatchSweeper } from './reconciler';

export interface BridgeDeps {
  kafka: Kafka;
  admin: Admin;
  client: Client;
  config: Pick<Config, 'kafka' | 'temporal' | 'batch' | 'bridge'>;
  logger: Logger;
  metrics?: BridgeMetrics;
  /** How an operator resumes a tripped breaker, for the log line that says it tripped. */
  resumeHint?: string;
  /** Set when tracing is on: one span per batch handed off (src/clients/tracing.ts). */
  tracer?: Tracer;
}

/** Offsets looked back over for a record's timestamp (a transaction's markers and aborted records may sit just below). */
const LOOK_BACK_OFFSETS = 10n;

/** How often failed batches of the group are looked for (their own bridge may be gone). */
const SWEEP_INTERVAL_MS = 60_000;

interface Assignment {
  generation: number;
  partitions: number[];
}

export class Bridge {
  /** This run's id: in its lanes' and batches' ids, so that a restarted bridge shares no lane with its earlier run. */
  readonly runId = randomBytes(6).toString('hex');
  private readonly consumer: Consumer;
  private readonly cluster: KafkajsCluster;
  private readonly lanes: Lanes;
  private readonly sweeper: FailedBatchSweeper;
  private readonly target: HandOffTarget;
  /** DLQ_MAX_RATIO's circuit breaker (src/bridge/breaker.ts); undefined when it is off. */
  private readonly breaker: CircuitBreaker | undefined;
  private readonly stopping = new AbortController();
  private positions = new Map<number, PartitionPosition>();
  private assignment: Assignment | undefined;
  private syncedGeneration = -1;
  private waitingSince: number | undefined;
  /** How often the bridge looks for new records when none wait. */
  private readonly tickMs: number;
  /** Looks in a row that found nothing new; from the second on, the bridge waits on Kafka instead of looking again. */
  private emptyLooks = 0;
  private readonly arrivals: ArrivalWatch;
  /** Ends a wait on Kafka early when the group changes, so that an assignment is taken up at once. */
  private wakeUp = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();
  private failing = false;
  private crashed: Error | undefined;
  private reportFatal: (err: Error) => void = () => undefined;
  /** Settles when the bridge cannot go on (the consumer crashed for good, or a partition's offsets are missing). */
  readonly fatal = new Promise<Error>((resolve) => (this.reportFatal = resolve));

  constructor(private readonly deps: BridgeDeps) {
    const { config, kafka, client, logger, metrics } = deps;
    this.target = { client, taskQueue: config.temporal.taskQueue };
    this.tickMs = Math.min(50, Math.max(10, Math.floor(config.batch.maxWaitMs / 4)));
    this.cluster = createCluster(kafka);
    this.arrivals = new ArrivalWatch(kafka, config.kafka.inputTopic);
    this.consumer = kafka.consumer({
      groupId: config.kafka.groupId,
      // A dead bridge's partitions move to the others after 10 s rather than the default 30.
      sessionTimeout: 10_000,
      heartbeatInterval: 3_000,
      rebalanceTimeout: 60_000,
      // Paused for good, it only heartbeats: how often it wakes to do so.
      maxWaitTimeInMs: 1_000,
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    this.breaker = config.bridge.breaker ? new CircuitBreaker(config.bridge.breaker) : undefined;
    const identity = { groupId: config.kafka.groupId, topic: config.kafka.inputTopic, runId: this.runId };
    this.lanes = new Lanes(config.batch.maxInFlight, identity, this.target, logger, metrics, (result) => this.countDeadLetters(result));
    this.sweeper = new FailedBatchSweeper({ target: this.target, groupId: config.kafka.groupId, topic: config.kafka.inputTopic, logger, metrics });
    this.watchGroup();
  }

  async start(): Promise<void> {
    const { config } = this.deps;
    await this.cluster.connect();
    await this.cluster.addTargetTopic(config.kafka.inputTopic);
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: config.kafka.inputTopic, fromBeginning: true });
    await this.consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
    this.loopDone = this.loop();
    void this.sweepPeriodically();
  }

  /** Stop cutting, let a hand-off under way finish and commit, leave the group. */
  async stop(timeoutMs = 20_000): Promise<void> {
    this.stopping.abort();
    this.wakeUp.abort();
    await withDeadline(this.loopDone, timeoutMs, 'The hand-off under way').catch((err: unknown) =>
      this.deps.logger.warn({ err }, 'A hand-off did not finish in time; the next owner of its partitions resolves its intent'),
    );
    this.lanes.stop();
    await this.consumer.disconnect().catch(() => undefined);
    await Promise.all([this.cluster.disconnect().catch(() => undefined), this.arrivals.close()]);
  }

  readiness(): Record<string, boolean> {
    return { kafka: this.assignment !== undefined && !this.crashed && !this.failing, breaker: !this.breaker?.open };
  }

  breakerState(): BreakerState {
    return this.breaker?.state() ?? BREAKER_OFF;
  }

  /**
   * Resumes the input after the breaker tripped: what waits in Kafka now goes through without
   * tripping it again (src/bridge/breaker.ts). False when it was not open.
   */
  resumeInput(by: string): boolean {
    const waiting = pendingOffsets(this.positions.values());
    if (!this.breaker?.resume(waiting, by)) return false;
    this.deps.metrics?.breakerOpen.set(0);
    this.deps.logger.info({ by, waiting }, `The input is resumed (${by}): the ${waiting} records waiting in Kafka go through, and the breaker watches what comes after`);
    return true;
  }

  private countDeadLetters(result: { records: number; deadLetters: number }): void {
    if (!this.breaker?.record(result)) return;
    const { metrics, logger, resumeHint } = this.deps;
    metrics?.breakerOpen.set(1);
    metrics?.breakerTrips.inc();
    const tripped = this.breaker.state().tripped!;
    logger.error({ window: tripped.window }, `The input is paused: ${tripped.sentence}; the records wait in Kafka, see the dead letters with \`npm run dlq\`, and resume with ${resumeHint ?? '`npm run bridge -- --resume`'}.`);
  }

  get inFlightBatches(): number {
    return this.lanes.inFlight;
  }

  private watchGroup(): void {
    const { consumer } = this;
    const { config, logger } = this.deps;
    let generation = 0;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      // Never fetch: the worker reads the records. Paused, the consumer only heartbeats.
      consumer.pause([{ topic: config.kafka.inputTopic }]);
      const partitions = (payload.memberAssignment[config.kafka.inputTopic] ?? []).slice().sort((a, b) => a - b);
      this.assignment = { generation: ++generation, partitions };
      this.wakeUp.abort();
      logger.info({ partitions }, 'Joined the consumer group');
    });
    consumer.on(consumer.events.REBALANCING, () => {
      this.assignment = undefined;
      this.wakeUp.abort();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) {
        // A group coordinator still loading (a broker just started) or moving is routine: the
        // consumer joins again by itself, and a stack trace would only alarm.
        if ((payload.error as { retriable?: boolean }).retriable) logger.info({ reason: payload.error.message }, 'The Kafka consumer joins its group again after a passing error');
        else logger.warn({ err: payload.error }, 'Kafka consumer crashed; restarting');
        return;
      }
      this.crashed = payload.error;
      logger.error({ err: payload.error }, 'Kafka consumer crashed and will not restart');
      this.reportFatal(payload.error);
    });
  }

  /** Ticks every few tens of milliseconds; backs off while Kafka or Temporal does not answer. */
  private async loop(): Promise<void> {
    const { logger } = this.deps;
    await repeat(() => this.tick(), {
      intervalMs: this.tickMs,
      signal: this.stopping.signal,
      backoff: { initialMs: 200, maxMs: 10_000 },
      // Ours when it is final (a partition's offsets are missing); a client library's errors
      // (a broker restarting, the group rejoining) pass.
      isFatal: (err) => err instanceof PipelineError && !err.retriable,
      onError: (err, failures) => {
        this.failing = true;
        if (failures === 1) logger.warn({ err }, 'Handing off failed; retrying');
      },
      onRecovered: () => {
        this.failing = false;
        logger.info('The bridge hands off again');
      },
    }).catch((err: unknown) => this.reportFatal(err as Error));
  }

  /** Resolves with how long to wait before the next tick when that is not the usual interval. */
  private async tick(): Promise<number | undefined> {
    const assignment = this.assignment;
    if (!assignment) return undefined;
    if (this.syncedGeneration !== assignment.generation) await this.resync(assignment);
    if (this.positions.size === 0) return undefined;
    await this.refreshEnds();
    const now = Date.now();
    const pending = pendingOffsets(this.positions.values());
    if (pending === 0) {
      this.waitingSince = undefined;
      this.deps.metrics?.paused.set(0);
      // Under a steady input the look after a cut finds records; twice nothing, and it is idle.
      return ++this.emptyLooks >= 2 ? this.waitForArrivals() : undefined;
    }
    this.emptyLooks = 0;
    const waitingSince = (this.waitingSince ??= now);
    // Every free lane takes a batch in the same tick, so that a backlog (a start, a catch-up)
    // fills them all at once rather than one a tick while the worker waits.
    for (let before = pending; ; ) {
      // The breaker's pause: nothing is cut, the records wait in Kafka where they are.
      if (this.breaker?.open || this.stopping.signal.aborted || this.assignment?.generation !== assignment.generation) return undefined;
      const lane = this.lanes.claim();
      this.deps.metrics?.paused.set(lane ? 0 : 1);
      if (!lane) return undefined;
      const { batch } = this.deps.config;
      const nowMs = Date.now();
      // Not due: nothing changes that until it is due or full, so the next look is then.
      if (!shouldCut(before, waitingSince, nowMs, batch)) return nextLookMs(before, waitingSince, nowMs, batch, this.tickMs);
      await this.handOff(lane, cutRanges([...this.positions.values()], batch.maxRecords));
      const after = pendingOffsets(this.positions.values());
      if (after === 0) this.waitingSince = undefined;
      // Not handed off (voided, or given up): the next tick looks again.
      if (after === 0 || after === before) return undefined;
      before = after;
    }
  }

  /** Takes a new assignment: where to resume each partition, with intents resolved and tokens recorded. */
  private async resync(assignment: Assignment): Promise<void> {
    const { config, admin, logger, metrics } = this.deps;
    const resumed = await resumePositions(
      {
        admin,
        target: this.target,
        groupId: config.kafka.groupId,
        topic: config.kafka.inputTopic,
        onMissingOffsets: config.bridge.onMissingOffsets,
        bounds: (partitions) => this.bounds(partitions),
        timestampBefore: (partition, offset) => this.timestampBefore(partition, offset),
        logger,
      },
      assignment.partitions,
    );
    if (this.assignment?.generation !== assignment.generation) return;
    this.positions = new Map(resumed.map((r) => [r.partition, { partition: r.partition, next: r.next, end: r.next, incarnation: r.incarnation }]));
    // What waits now was written before the bridge looked: due at once, not a BATCH_MAX_WAIT_MS
    // from now (with a long wait, a restart would otherwise hold its backlog that much longer).
    this.waitingSince = Date.now() - config.batch.maxWaitMs;
    const intents = new Map(resumed.flatMap((r) => (r.intent ? [[r.intent.workflowId, r.intent.adopted] as const] : [])));
    for (const [workflowId, adopted] of intents) {
      metrics?.batches.inc({ result: adopted ? 'adopted' : 'voided' });
      logger.info({ workflowId, adopted }, adopted ? 'Found a batch an earlier owner started: skipping past it' : 'Voided a batch an earlier owner did not start: handing its records off again');
    }
    await this.commit([...this.positions.values()].map((p) => ({ partition: p.partition, offset: p.next }))).catch((err: unknown) =>
      logger.warn({ err }, 'Could not record where the partitions resume; the next owner resolves the same'),
    );
    this.syncedGeneration = assignment.generation;
  }

  /** Intent, start, end: see the module comment and src/bridge/handoff.ts. */
  private async handOff(lane: NonNullable<ReturnType<Lanes['claim']>>, ranges: OffsetRange[]): Promise<void> {
    const { config, metrics, logger } = this.deps;
    const spec: BatchSpec = {
      batchId: batchId(config.kafka.groupId, config.kafka.inputTopic, this.runId, lane.index, lane.seq),
      groupId: config.kafka.groupId,
      topic: config.kafka.inputTopic,
      ranges,
      lane: { id: lane.id, seq: lane.seq },
      cutAtMs: Date.now(),
      attemptTimeoutMs: config.batch.attemptTimeoutMs,
    };
    const workflowId = batchWorkflowId(spec.batchId);
    const stopTimer = metrics?.handOffDuration.startTimer();
    this.lanes.reserve(lane.index, spec);
    try {
      await this.commit(ranges.map((r) => ({ partition: r.partition, offset: BigInt(r.from), intent: workflowId })));
      await this.requireCommitted(ranges.map((r) => ({ partition: r.partition, metadata: this.metadataFor(r.partition, workflowId) })));
    } catch (err) {
      this.lanes.release(lane.index);
      throw err;
    }
    const owned = () => ranges.every((r) => this.positions.get(r.partition)?.incarnation === r.incarnation && this.assignment !== undefined);
    const started = await withBatchSpan(this.deps.tracer, spec, () => retry(() => startOrFind(this.target, spec), {
      initialMs: 300,
      maxMs: 10_000,
      signal: this.stopping.signal,
      retriable: (err) => isRetriable(err) && owned(),
      onRetry: (err, attempt) => {
        if (attempt === 0) logger.warn({ err, workflowId }, 'Starting a batch workflow failed; retrying');
      },
    })).catch((err: unknown) => {
      // Given up (stopping, or the partitions moved): the intent stays for their next owner to resolve.
      this.lanes.started(lane.index, spec, undefined);
      if (err instanceof CancelledError || !owned()) return undefined;
      throw err;
    });
    stopTimer?.();
    if (!started) return;
    if (started.outcome === 'voided') {
      this.lanes.started(lane.index, spec, undefined);
      metrics?.batches.inc({ result: 'voided' });
      logger.info({ workflowId }, 'A bridge that took these partitions over voided this batch first; its records are handed off again');
      return;
    }
    this.lanes.started(lane.index, spec, started.handle);
    metrics?.batches.inc({ result: 'started' });
    metrics?.records.inc(offsetCount(ranges));
    for (const r of ranges) {
      const position = this.positions.get(r.partition);
      if (position && position.incarnation === r.incarnation) position.next = BigInt(r.to);
    }
    await this.commit(ranges.map((r) => ({ partition: r.partition, offset: BigInt(r.to) }))).catch((err: unknown) =>
      logger.warn({ err, workflowId }, 'Committing after a hand-off failed; the next owner of the partitions finds the batch by its intent'),
    );
  }

  /** Commits offsets with each partition's incarnation token, and an intent when one is given. */
  private async commit(entries: { partition: number; offset: bigint; intent?: string }[]): Promise<void> {
    const { config, metrics } = this.deps;
    const topic = config.kafka.inputTopic;
    await this.consumer.commitOffsets(
      entries.map((e) => ({
        topic,
        partition: e.partition,
        offset: String(e.offset),
        metadata: this.metadataFor(e.partition, e.intent),
      })),
    );
    metrics?.commits.inc();
  }

  private metadataFor(partition: number, intent: string | undefined): string {
    return formatCommitMetadata({ token: this.positions.get(partition)?.incarnation, intent });
  }

  /**
   * Reads back what the group holds: kafkajs's commitOffsets returns without committing while its
   * consumer restarts after a crash, and an intent that was not written must not be acted on.
   */
  private async requireCommitted(expected: { partition: number; metadata: string }[]): Promise<void> {
    const { groupId, inputTopic: topic } = this.deps.config.kafka;
    const held = await fetchCommittedOffsets(this.cluster, groupId, topic, expected.map((e) => e.partition));
    const missing = expected.filter((e) => held.get(e.partition)?.metadata !== e.metadata);
    if (missing.length > 0) {
      throw new PipelineError(`The intent of a batch was not committed on ${topic} partition${missing.length > 1 ? 's' : ''} ${missing.map((m) => m.partition).join(', ')} (the consumer was restarting); cutting again.`, { retriable: true });
    }
  }

  /**
   * Waits on Kafka (src/clients/arrivals.ts) for records past the ends it knows, at most a second;
   * resolves with the pause before the next look: none when records came or the wait ran its
   * course. A wait that ended early with nothing (the group changed; a broker's quota throttled
   * it) or failed is made up to the usual interval, so that the bridge never looks more often than
   * it did before it waited.
   */
  private async waitForArrivals(): Promise<number> {
    if (this.stopping.signal.aborted) return 0;
    this.wakeUp = new AbortController();
    const ends = new Map([...this.positions].map(([partition, p]) => [partition, p.end]));
    this.deps.metrics?.waits.inc();
    const started = Date.now();
    return this.arrivals.wait(ends, MAX_LOOK_MS, this.wakeUp.signal).then(
      (arrived) => {
        // The look comes at once; if it finds nothing after all, the count starts again, so a
        // wake that looks cannot confirm never turns into a loop without a pause.
        if (arrived) this.emptyLooks = 0;
        return arrived ? 0 : Math.max(0, this.tickMs - (Date.now() - started));
      },
      (err: unknown) => {
        this.deps.logger.debug({ err }, 'Waiting on Kafka for new records failed; looking again in a moment');
        return this.tickMs;
      },
    );
  }

  /** Each owned partition's last stable offset: what can be handed off now. */
  private async refreshEnds(): Promise<void> {
    const topic = this.deps.config.kafka.inputTopic;
    const partitions = [...this.positions.keys()];
    const [offsets] = await this.cluster.fetchTopicsOffset([{ topic, partitions: partitions.map((partition) => ({ partition })), fromBeginning: false }]);
    this.deps.metrics?.looks.inc();
    for (const { partition, offset } of offsets?.partitions ?? []) {
      const position = this.positions.get(partition);
      if (!position) continue;
      position.end = BigInt(offset);
      this.deps.metrics?.lag.set({ topic, partition: String(partition) }, Math.max(0, Number(position.end - position.next)));
    }
  }

  private async bounds(partitions: number[]): Promise<Map<number, { earliest: bigint; latest: bigint }>> {
    const topic = this.deps.config.kafka.inputTopic;
    const ask = (fromBeginning: boolean) => this.cluster.fetchTopicsOffset([{ topic, partitions: partitions.map((partition) => ({ partition })), fromBeginning }]);
    const [[earliest], [latest]] = await Promise.all([ask(true), ask(false)]);
    const offsetOf = (list: typeof earliest, partition: number) => BigInt(list?.partitions.find((p) => p.partition === partition)?.offset ?? '0');
    return new Map(partitions.map((p) => [p, { earliest: offsetOf(earliest, p), latest: offsetOf(latest, p) }]));
  }

  /** The Kafka timestamp of the last record below `offset` (among the few before it), read once at a take-over. */
  private async timestampBefore(partition: number, offset: bigint): Promise<number | undefined> {
    const reader = new RangeReader(this.deps.kafka);
    try {
      const from = offset > LOOK_BACK_OFFSETS ? offset - LOOK_BACK_OFFSETS : 0n;
      let last: number | undefined;
      for await (const records of reader.read(this.deps.config.kafka.inputTopic, [{ partition, from: String(from), to: String(offset) }], { chunkBytes: 1024 * 1024 })) {
        for (const r of records) if (r.timestamp !== undefined) last = Number(r.timestamp);
      }
      return last;
    } finally {
      await reader.close();
    }
  }

  private async sweepPeriodically(): Promise<void> {
    await repeat(async () => void (await this.sweeper.sweep()), {
      intervalMs: SWEEP_INTERVAL_MS,
      signal: this.stopping.signal,
      backoff: { initialMs: SWEEP_INTERVAL_MS, maxMs: SWEEP_INTERVAL_MS },
      onError: (err) => this.deps.logger.debug({ err }, 'Looking for failed batches failed; trying again later'),
    });
  }

}

