/**
 * The activities of a replay of dead letters (src/workflows/replay.ts; the guarantee and the
 * names in src/domain/replay.ts). `planReplay` fixes which DLQ offsets the replay reads;
 * `replaySegment` replays one stretch of one DLQ partition:
 *
 * 1. Lease the partition's replay producer and wait for its initialisation: every earlier replay
 *    attempt of the partition, in any worker, is fenced (cannot commit any more) and its open
 *    transaction decided.
 * 2. Read the partition's replay log up to its end: the dead letters replayed so far. Nothing can
 *    be added to it now but by this attempt, so that set is stable until this attempt commits.
 * 3. Read the stretch of the DLQ in chunks; each selected dead letter not replayed yet goes
 *    through today's rules (the batch activity's transformForOutput, with its `source` the
 *    input record's and `replayed_from` its place in the DLQ).
 * 4. Per chunk, apply the aggregates of the valid ones to Redis, each under a marker of its own
 *    dead letter, as the batch activity applies a chunk's before publishing: a retry, or a
 *    replay of another selection that takes the same dead letter, finds it counted.
 * 5. Publish the chunk's logins and one replay-log record per dead letter in one Kafka
 *    transaction, which moves the lane's mark (LaneTransactions.publishOnce). A dead letter
 *    still invalid is left where it is and counted in the report; nothing is written for it.
 *
 * A dry run does steps 2 and 3 without fencing and writes nothing.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Admin } from 'kafkajs';
import type { RangeReader, RangeRecord } from '../clients/range-reader';
import type { ReplayLog } from '../clients/replay-log';
import { rangesFrom, TopicNotFoundError } from '../clients/topic-range';
import type { LaneLease, LaneTransactions, Outgoing } from '../clients/transactions';
import type { Config } from '../config';
import { aggregateLogins } from '../domain/aggregates';
import { describeDeadLetter, matchesFilter, type DeadLetterFilter, type DeadLetterInfo } from '../domain/dead-letter-report';
import {
  deadLetterIdentity,
  emptyCounts,
  groupOf,
  INVALID_REPLAY_INPUT,
  replayLaneId,
  replayLogKey,
  replayLogTopic,
  type ReplayCounts,
  type ReplayLogEntry,
  type ReplayPlan,
  type ReplayRange,
  type ReplaySelection,
} from '../domain/replay';
import type { ProcessedLogin, SourceRef } from '../domain/types';
import { CancelledError, PipelineError } from '../errors';
import type { InsightsStore } from '../insights/store';
import type { WorkerMetrics } from '../metrics';
import { ruleSettings, transformForOutput } from './batch';

export interface ReplayActivityDeps {
  admin: Admin;
  reader: RangeReader;
  replayLog: ReplayLog;
  transactions: LaneTransactions;
  store: InsightsStore;
  config: Pick<Config, 'kafka' | 'aggregates' | 'worker' | 'batch' | 'rules'>;
  metrics?: WorkerMetrics;
}

export interface ReplaySegmentInput {
  /** The replay's workflow id: the replayed logins' batch_id. */
  replayId: string;
  /** The first run id of the replay's workflow: its replays in the log are told from other replays' by it. */
  run: string;
  dlqTopic: string;
  selection: ReplaySelection;
  dryRun: boolean;
  processedAtMs: number;
  segment: ReplayRange;
}

/**
 * A dead letter is written after it failed, so its Kafka timestamp is no earlier than its
 * dlq.failed_at but for clocks: reading starts this much before --since (as `npm run dlq` does).
 */
const FAILED_AT_MARGIN_MS = 600_000;

/** A dead letter to replay: valid today. */
interface Replayable {
  record: RangeRecord;
  info: DeadLetterInfo & { source: SourceRef };
  identity: string;
  login: ProcessedLogin;
  json: string;
  bytes: number;
}

export function createReplayActivities(deps: ReplayActivityDeps) {
  const rules = ruleSettings(deps.config);
  const { dlqTopic: configuredDlq } = deps.config.kafka;

  function requireOwnDlq(dlqTopic: string): void {
    // The worker publishes to its own OUTPUT_TOPIC and counts in its own Redis: a replay of another DLQ would mix pipelines.
    if (dlqTopic !== configuredDlq) {
      throw ApplicationFailure.nonRetryable(`This replay is of ${dlqTopic}, but the workers on this task queue serve ${configuredDlq} (DLQ_TOPIC).`, INVALID_REPLAY_INPUT);
    }
  }

  /** The DLQ offsets the replay reads: each partition from --since (by Kafka timestamp, with a margin) to its end now. */
  async function planReplay(dlqTopic: string, selection: ReplaySelection, processedAtMs: number): Promise<ReplayPlan> {
    requireOwnDlq(dlqTopic);
    const from = selection.sinceMs === undefined ? undefined : selection.sinceMs - FAILED_AT_MARGIN_MS;
    const ranges = await rangesFrom(deps.reader, deps.admin, dlqTopic, from).catch((err: unknown) => {
      // Nothing to replay, and waiting will not make one: fail the replay with the sentence.
      if (err instanceof TopicNotFoundError) throw ApplicationFailure.nonRetryable(err.message, INVALID_REPLAY_INPUT);
      throw err;
    });
    return { processedAtMs, ranges: ranges.map((r) => ({ partition: r.partition, from: r.start, to: r.end })) };
  }

  async function replaySegment(input: ReplaySegmentInput): Promise<ReplayCounts> {
    requireOwnDlq(input.dlqTopic);
    const signal = Context.current().cancellationSignal;
    const { segment } = input;
    const logTopic = replayLogTopic(input.dlqTopic);
    const lease = input.dryRun ? undefined : deps.transactions.lease(replayLaneId(deps.config.kafka.groupId, input.dlqTopic, segment.partition));
    const counts = emptyCounts();
    try {
      await lease?.ready();
      const log = await deps.replayLog.refresh(logTopic, segment.partition, signal);
      // The lane's mark: the log's end as this attempt read it, plus the chunks it committed. A
      // commit that finds the mark past it means the log grew after it was read: never silently.
      let mark = log.end + 1n;
      const filter: DeadLetterFilter = { ...input.selection };
      const chunks = deps.reader.read(input.dlqTopic, [segment], { chunkBytes: deps.config.batch.maxBytes, signal });
      for await (const records of chunks) {
        const replayable = classify(records, counts, filter, { ...input, logTopic, logPartition: log.logPartition });
        Context.current().heartbeat({ partition: segment.partition, offset: records.at(-1)?.offset });
        if (!lease || replayable.length === 0) continue;
        await applyAggregates(replayable, input);
        Context.current().heartbeat({ partition: segment.partition, offset: records.at(-1)?.offset });
        if (signal.aborted) throw new CancelledError(`Replaying ${input.dlqTopic} partition ${segment.partition}`, signal.reason);
        await publish(lease, mark, replayable, input, logTopic, log.logPartition);
        mark++;
        for (const r of replayable) deps.replayLog.add(logTopic, log.logPartition, segment.partition, r.record.offset, { identity: r.identity, run: input.run });
      }
    } finally {
      lease?.release();
    }
    return counts;
  }

  /** Counts each record of the chunk in its group; returns the selected ones that are valid today and not replayed yet. */
  function classify(
    records: RangeRecord[],
    counts: ReplayCounts,
    filter: DeadLetterFilter,
    ctx: ReplaySegmentInput & { logTopic: string; logPartition: number },
  ): Replayable[] {
    const replayable: Replayable[] = [];
    const processedAt = new Date(ctx.processedAtMs).toISOString();
    for (const record of records) {
      // Deleted by the DLQ's retention before this read: gone, nothing to replay.
      if (record.deleted) continue;
      counts.read++;
      const info = describeDeadLetter({
        partition: record.partition,
        offset: record.offset,
        timestamp: Number(record.timestamp ?? 0),
        key: record.key,
        value: record.value,
        headers: record.headers ?? {},
      });
      if (!matchesFilter(info, filter)) continue;
      const group = groupOf(counts, info.reason, info.field);
      group.selected++;
      if (!info.source) {
        group.notReplayable++;
        continue;
      }
      const identity = deadLetterIdentity(info.source, info.failedAt);
      const earlier = deps.replayLog.replayed(ctx.logTopic, ctx.logPartition, record.partition, record.offset);
      if (earlier?.identity === identity) {
        // Replayed by an earlier attempt of this same replay (killed, fenced, retried): its own work.
        if (earlier.run === ctx.run) group.replayed++;
        else group.alreadyReplayed++;
        continue;
      }
      const replayedFrom = { topic: ctx.dlqTopic, partition: record.partition, offset: record.offset };
      const outcome = transformForOutput(record.value, { source: info.source, batchId: ctx.replayId, nowMs: ctx.processedAtMs, processedAt, replayedFrom }, rules);
      if (!outcome.ok) {
        group.stillInvalid++;
        group.stillInvalidSample ??= { ...outcome.rejection, field: outcome.rejection.field ?? null, partition: record.partition, offset: record.offset };
        continue;
      }
      group.replayed++;
      replayable.push({ record, info: info as Replayable['info'], identity, login: outcome.login, json: outcome.json, bytes: outcome.bytes });
    }
    return replayable;
  }

  /** Each dead letter's counts under a marker of its own: whichever replay publishes it, Redis counts it once. */
  async function applyAggregates(replayable: Replayable[], input: ReplaySegmentInput): Promise<void> {
    const batches = replayable.map((r) => ({
      batchId: replayMarker(input.dlqTopic, r.record.partition, r.record.offset, r.identity),
      aggregates: aggregateLogins([r.login], deps.config.aggregates, input.processedAtMs),
    }));
    const stopTimer = deps.metrics?.redisScriptDuration.startTimer();
    await deps.store.applyBatches(batches, input.processedAtMs);
    stopTimer?.();
  }

  async function publish(lease: LaneLease, mark: bigint, replayable: Replayable[], input: ReplaySegmentInput, logTopic: string, logPartition: number): Promise<void> {
    const replayedAt = new Date().toISOString();
    const messages: Outgoing[] = [];
    for (const r of replayable) {
      messages.push({
        topic: deps.config.kafka.outputTopic,
        message: { key: r.login.user_id, value: r.json, headers: { type: 'login' } },
        size: r.bytes + r.login.user_id.length * 3 + 16,
        offset: r.info.source.offset,
      });
      const entry: ReplayLogEntry = { dlq: r.login.replayed_from!, identity: r.identity, replay: input.replayId, run: input.run, replayed_at: replayedAt };
      const value = JSON.stringify(entry);
      messages.push({
        topic: logTopic,
        message: { partition: logPartition, key: replayLogKey(r.record.partition, r.record.offset), value },
        size: value.length + 64,
        offset: r.record.offset,
      });
    }
    const stopTimer = deps.metrics?.publishDuration.startTimer();
    const outcome = await lease.publishOnce(logTopic, mark, messages);
    stopTimer?.();
    if (outcome === 'published') deps.metrics?.replayedLogins.inc(replayable.length);
    if (outcome === 'already-published') {
      throw new PipelineError(
        `The replay log of ${input.dlqTopic} partition ${input.segment.partition} grew after this attempt read it; it reads it again.`,
        { retriable: true },
      );
    }
  }

  return { planReplay, replaySegment };
}

export type ReplayActivities = ReturnType<typeof createReplayActivities>;

/**
 * The Redis marker of one replayed dead letter: its place, and a digest of its identity, so that
 * a recreated DLQ's record at the same place is not taken for it.
 */
export function replayMarker(dlqTopic: string, partition: number, offset: string, identity: string): string {
  return `replay/${dlqTopic}/${partition}/${offset}#${createHash('sha256').update(identity).digest('hex').slice(0, 12)}`;
}
