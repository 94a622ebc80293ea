/**
 * Where the bridge resumes each partition it is given (docs/design.md, "Taking a partition"):
 * at the group's committed offset, after resolving any intent found there (src/bridge/handoff.ts),
 * with the partition's incarnation token from the commit's metadata.
 *
 * A partition with no committed offset is new (first start), or its offsets are gone: the topic
 * was deleted and made again, Kafka's data was wiped, or the offsets expired or were deleted.
 * Temporal's history tells these apart: batches of this group that reached further than the
 * partition now holds mean a new topic (its records are handed off from its start); batches
 * that did not mean the records are still there, and handing them off again from the start
 * would repeat them, so the bridge stops and says how to go on (BRIDGE_ON_MISSING_OFFSETS).
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
  logger: Logger;
}

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
    const reached = history.get(partition);
    if (reached === undefined) {
      starts.set(partition, earliest);
      continue;
    }
    if (latest < reached) {
      ctx.logger.warn(
        { partition, reachedBefore: String(reached), latest: String(latest) },
        `Partition ${partition} of ${ctx.topic} has no committed offset in group ${ctx.groupId} and holds fewer records (up to ${latest}) than earlier batches of this group reached (${reached}): ` +
          'the topic was recreated or Kafka\'s data was wiped, so its records are new and are handed off from its start',
      );
      starts.set(partition, earliest);
      continue;
    }
    const sentence =
      `Partition ${partition} of ${ctx.topic} has no committed offset in group ${ctx.groupId}, but Temporal holds batches of it up to offset ${reached} and the partition still holds those records: ` +
      `the group's offsets expired or were deleted. To resume after them, set them (kafka-consumer-groups.sh --bootstrap-server … --group ${ctx.groupId} --topic ${ctx.topic}:${partition} --reset-offsets --to-offset ${reached} --execute); ` +
      `to hand off again everything the partition holds, start the bridge with BRIDGE_ON_MISSING_OFFSETS=earliest`;
    if (ctx.onMissingOffsets === 'stop') throw new MissingOffsetsError(`${sentence}.`);
    ctx.logger.warn({ partition, reachedBefore: String(reached) }, `${sentence}; BRIDGE_ON_MISSING_OFFSETS=earliest: handing it off again from offset ${earliest}`);
    starts.set(partition, earliest);
  }
  return starts;
}

/** How far each partition was handed off by the most recent batches of this group and topic in Temporal. */
async function reachInHistory(ctx: PositionsContext): Promise<Map<number, bigint>> {
  const reach = new Map<number, bigint>();
  const query = `WorkflowType = '${BATCH_WORKFLOW_TYPE}' AND ${BATCH_GROUP.name} = ${quote(ctx.groupId)} AND ${BATCH_TOPIC.name} = ${quote(ctx.topic)}`;
  let looked = 0;
  for await (const execution of ctx.target.client.workflow.list({ query, pageSize: RECENT_BATCHES })) {
    for (const range of parseRanges(execution.memo?.ranges) ?? []) {
      const to = BigInt(range.to);
      if (to > (reach.get(range.partition) ?? -1n)) reach.set(range.partition, to);
    }
    if (++looked >= RECENT_BATCHES) break;
  }
  return reach;
}

/** Batches looked at for how far a partition was handed off: the recent ones cover every partition of a bridge. */
const RECENT_BATCHES = 50;

