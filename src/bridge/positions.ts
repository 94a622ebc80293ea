/**
 * Where the bridge resumes each partition it is given (docs/design.md, "Taking a partition"):
 * at the group's committed offset, after resolving any intent found there (src/bridge/handoff.ts),
 * with the partition's incarnation token from the commit's metadata.
 *
 * A partition with no committed offset is new (first start), or its offsets are gone: the topic
 * was deleted and made again, Kafka's data was wiped, or the offsets expired or were deleted.
 * Temporal's history tells these apart. The most recent batches of this group say how far the
 * partition was handed off (R) and when (C). If the partition now ends before R, or the record it
 * holds just before R was written after C, the records are new: a new topic, handed off from its
 * start. If everything below R is gone (retention), what is left was never handed off. Otherwise
 * the records handed off before are still there, and starting over would repeat them: the bridge
 * stops and says how to go on (BRIDGE_ON_MISSING_OFFSETS).
 */
import { randomBytes } from 'node:crypto';
import type { Admin } from 'kafkajs';
import { BATCH_WORKFLOW_TYPE, parseRanges } from '../domain/batch';
import { parseCommitMetadata } from '../domain/commit-metadata';
import { BATCH_GROUP, BATCH_TOPIC, quote } from '../domain/search-attributes';
import { PipelineError } from '../errors';
import type { Logger } from '../log';
import { resolveIntent, type HandOffTarget } from './handoff';

/** The partition's offsets are gone while its records are not; starting over would repeat them. */
export class MissingOffsetsError extends PipelineError {
  override name = 'MissingOffsetsError';
}

export interface Resumed {
  partition: number;
  next: bigint;
  incarnation: string;
  /** Batches found started under an intent (adopted), or voided, while resolving it. */
  intent?: { workflowId: string; adopted: boolean };
}

export interface PositionsContext {
  admin: Admin;
  target: HandOffTarget;
  groupId: string;
  topic: string;
  onMissingOffsets: 'stop' | 'earliest';
  /** Each partition's first and next offset, as the broker says now. */
  bounds: (partitions: number[]) => Promise<Map<number, { earliest: bigint; latest: bigint }>>;
  /** The Kafka timestamp (epoch ms) of the last record the partition holds below `offset`, if any. */
  timestampBefore: (partition: number, offset: bigint) => Promise<number | undefined>;
  logger: Logger;
}

/**
 * Records a producer stamps with its own clock: one written after C may carry a time a little
 * before C when the producer's clock is behind the bridge's. Beyond this, it was written after.
 */
const CLOCK_SKEW_MS = 1_000;

/** Where to resume each of `partitions`. */
export async function resumePositions(ctx: PositionsContext, partitions: number[]): Promise<Resumed[]> {
  const [committed] = await ctx.admin.fetchOffsets({ groupId: ctx.groupId, topics: [ctx.topic] });
  const byPartition = new Map((committed?.partitions ?? []).map((p) => [p.partition, p]));
  const missing = partitions.filter((p) => BigInt(byPartition.get(p)?.offset ?? '-1') < 0n);
  const fresh = missing.length > 0 ? await startsOfMissing(ctx, missing) : new Map<number, bigint>();
  const resolved = new Map<string, Map<number, bigint>>();
  const resumed: Resumed[] = [];
  for (const partition of partitions) {
    const entry = byPartition.get(partition);
    const metadata = parseCommitMetadata(entry?.metadata);
    let next = fresh.get(partition) ?? BigInt(entry?.offset ?? '0');
    let intent: Resumed['intent'];
    if (metadata.intent) {
      let ends = resolved.get(metadata.intent);
      if (!ends) {
        ends = await resolveIntent(ctx.target, metadata.intent, { groupId: ctx.groupId, topic: ctx.topic });
        resolved.set(metadata.intent, ends);
      }
      const end = ends.get(partition);
      if (end !== undefined && end > next) next = end;
      intent = { workflowId: metadata.intent, adopted: ends.size > 0 };
    }
    resumed.push({ partition, next, incarnation: fresh.has(partition) || !metadata.token ? newIncarnation() : metadata.token, intent });
  }
  return resumed;
}

export function newIncarnation(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Where partitions without a committed offset start: at their first offset, after saying why;
 * or nowhere (MissingOffsetsError) when their records may have been handed off before.
 */
async function startsOfMissing(ctx: PositionsContext, partitions: number[]): Promise<Map<number, bigint>> {
  const [bounds, history] = await Promise.all([ctx.bounds(partitions), reachInHistory(ctx)]);
  const starts = new Map<number, bigint>();
  for (const partition of partitions) {
    const { earliest, latest } = bounds.get(partition) ?? { earliest: 0n, latest: 0n };
    starts.set(partition, earliest);
    const reached = history.get(partition);
    if (reached === undefined || earliest >= reached.to) continue;
    const verdict = await judgeMissing(ctx, partition, reached, latest);
    const where = `Partition ${partition} of ${ctx.topic} has no committed offset in group ${ctx.groupId}`;
    if (verdict === 'new records') {
      ctx.logger.warn(
        { partition, reachedBefore: String(reached.to) },
        `${where}, and the records it holds are not those earlier batches of this group handed off (up to offset ${reached.to}): ` +
          "the topic was recreated or Kafka's data was wiped, so its records are handed off from its start",
      );
      continue;
    }
    const sentence =
      `${where}, but Temporal holds batches of it up to offset ${reached.to} and the partition still holds those records: ` +
      `the group's offsets expired or were deleted. To resume after them, set them (kafka-consumer-groups.sh --bootstrap-server … --group ${ctx.groupId} --topic ${ctx.topic}:${partition} --reset-offsets --to-offset ${reached.to} --execute); ` +
      `to hand off again everything the partition holds, start the bridge with BRIDGE_ON_MISSING_OFFSETS=earliest`;
    if (ctx.onMissingOffsets === 'stop') throw new MissingOffsetsError(`${sentence}.`);
    ctx.logger.warn({ partition, reachedBefore: String(reached.to) }, `${sentence}; BRIDGE_ON_MISSING_OFFSETS=earliest: handing it off again from offset ${earliest}`);
  }
  return starts;
}

/** Whether a partition without offsets holds the records earlier batches handed off, or new ones. */
async function judgeMissing(ctx: PositionsContext, partition: number, reached: Reach, latest: bigint): Promise<'new records' | 'same records'> {
  if (latest < reached.to) return 'new records';
  const writtenAt = await ctx.timestampBefore(partition, reached.to);
  return writtenAt !== undefined && writtenAt > reached.cutAtMs + CLOCK_SKEW_MS ? 'new records' : 'same records';
}

interface Reach {
  /** The end (exclusive) of the furthest range of the partition in a recent batch. */
  to: bigint;
  /** When that batch was cut. */
  cutAtMs: number;
}

/** How far each partition was handed off by the most recent batches of this group and topic in Temporal, and when. */
async function reachInHistory(ctx: PositionsContext): Promise<Map<number, Reach>> {
  const reach = new Map<number, Reach>();
  const query = `WorkflowType = '${BATCH_WORKFLOW_TYPE}' AND ${BATCH_GROUP.name} = ${quote(ctx.groupId)} AND ${BATCH_TOPIC.name} = ${quote(ctx.topic)}`;
  let looked = 0;
  for await (const execution of ctx.target.client.workflow.list({ query, pageSize: RECENT_BATCHES })) {
    const cutAtMs = Number(execution.memo?.cutAtMs ?? execution.startTime.getTime());
    for (const range of parseRanges(execution.memo?.ranges) ?? []) {
      const to = BigInt(range.to);
      if (to > (reach.get(range.partition)?.to ?? -1n)) reach.set(range.partition, { to, cutAtMs });
    }
    if (++looked >= RECENT_BATCHES) break;
  }
  return reach;
}

/** Batches looked at for how far a partition was handed off: the recent ones cover every partition of a bridge. */
const RECENT_BATCHES = 50;

