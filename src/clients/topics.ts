import { ConfigResourceTypes, type Admin, type Kafka } from 'kafkajs';
import { kafkaErrorType, PipelineError } from '../errors';
import { waitUntil } from '../process/wait';

/** Kafka's default max.message.bytes (broker message.max.bytes), used when a topic does not exist yet. */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** Room for the dlq.* headers a dead letter adds to the input record it carries unchanged. */
export const DEAD_LETTER_HEADROOM_BYTES = 16 * 1024;

/**
 * A topic to create: with the largest record it must take when that is not the broker's default,
 * its own partition count, or more topic settings.
 */
export type TopicSpec = string | { topic: string; maxMessageBytes?: number; numPartitions?: number; configEntries?: { name: string; value: string }[] };

/** Copies of each partition the product asks for when it creates a topic, at most: one per broker up to three. */
export const MAX_REPLICATION_FACTOR = 3;

/**
 * How a topic the product creates is replicated on a cluster of `brokers`: min(3, brokers)
 * copies, and acks=all (every producer of ours) then waits for all but one of them, so that any
 * one broker may die without losing an acknowledged record or stopping writes.
 */
export function replicationFor(brokers: number): { replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = Math.max(1, Math.min(MAX_REPLICATION_FACTOR, brokers));
  return { replicationFactor, minInsyncReplicas: Math.max(1, replicationFactor - 1) };
}

/**
 * Creates the topics that do not exist yet, replicated as replicationFor says (not the brokers'
 * default.replication.factor, which is 1 unless an operator changed it). Where the principal may
 * not create topics (a managed cluster), a refusal is not an error here: the first produce then
 * names the missing topic.
 */
export async function ensureTopics(kafka: Kafka, specs: TopicSpec[], numPartitions = 1): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.map((s) => (typeof s === 'string' ? { topic: s } : s)).filter((s) => !existing.has(s.topic));
    if (missing.length === 0) return;
    const { replicationFactor, minInsyncReplicas } = replicationFor((await admin.describeCluster()).brokers.length);
    // A topic made meanwhile by another process is no error: kafkajs answers false for it.
    await admin.createTopics({
      waitForLeaders: false,
      topics: missing.map((s) => ({
        topic: s.topic,
        numPartitions: ('numPartitions' in s ? s.numPartitions : undefined) ?? numPartitions,
        replicationFactor,
        configEntries: [
          { name: 'min.insync.replicas', value: String(minInsyncReplicas) },
          ...('maxMessageBytes' in s && s.maxMessageBytes !== undefined ? [{ name: 'max.message.bytes', value: String(s.maxMessageBytes) }] : []),
          ...(('configEntries' in s ? s.configEntries : undefined) ?? []),
        ],
      })),
    });
    await waitForLeaders(admin, missing.map((s) => s.topic));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Waits until every partition of the topics has a leader that serves it, asking again while the
 * broker asked has not heard of a topic yet. kafkajs's own waitForLeaders gives up on that answer
 * (UNKNOWN_TOPIC_OR_PARTITION), which a broker of several gives a moment after another created
 * it; and on a cluster the metadata names a partition's leader a moment before that leader hosts
 * it (its ListOffsets answers "This server does not host this topic-partition" until then).
 */
export async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  await waitUntil(
    async () => {
      const { topics: found } = await admin.fetchTopicMetadata({ topics });
      if (found.length !== topics.length || !found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return false;
      for (const topic of topics) await admin.fetchTopicOffsets(topic);
      return true;
    },
    { timeoutMs, intervalMs: 200, message: `leaders serving every partition of ${topics.join(', ')}` },
  );
}

/**
 * The max.message.bytes a DLQ needs: a dead letter carries its input record unchanged plus its
 * headers, so it must take the largest record the input topic takes, and then some.
 */
export async function deadLetterTopicLimit(kafka: Kafka, inputTopic: string): Promise<number> {
  const input = (await topicMaxMessageBytes(kafka, [inputTopic])).get(inputTopic) ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
  return input + DEAD_LETTER_HEADROOM_BYTES;
}

/** A record Kafka refused, as far as the error needs it: where it was going and where it came from. */
export interface RefusedRecord {
  topic: string;
  size: number;
  offset: string;
}

/**
 * Kafka refused a record as larger than its topic takes. Retried, not dead-lettered: the record
 * is valid or already a dead letter, and an operator can raise the limit; until then it says what.
 */
export class RecordRefusedAsTooLargeError extends PipelineError {
  override name = 'RecordRefusedAsTooLargeError';
  constructor(record: RefusedRecord, cause?: unknown) {
    super(
      `${record.topic} refused a record as too large (about ${record.size} bytes, from input offset ${record.offset}); ` +
        `raise its max.message.bytes to at least the input topic's plus ${DEAD_LETTER_HEADROOM_BYTES} bytes.`,
      { cause, retriable: true },
    );
  }
}

/** A produce error as the one to throw: Kafka's "message too large" names the topic, record and fix. */
export function explainProduceError(err: unknown, record: RefusedRecord): unknown {
  return kafkaErrorType(err) === 'MESSAGE_TOO_LARGE' ? new RecordRefusedAsTooLargeError(record, err) : err;
}

/**
 * Each topic's max.message.bytes as the broker reports it; topics it will not describe (missing,
 * or not allowed to this principal) are left out, since callers use this only for advice.
 */
export async function topicMaxMessageBytes(kafka: Kafka, topics: string[]): Promise<Map<string, number>> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] })),
    });
    const sizes = new Map<string, number>();
    for (const resource of described.resources) {
      const entry = resource.errorCode === 0 ? resource.configEntries.find((e) => e.configName === 'max.message.bytes') : undefined;
      if (entry) sizes.set(resource.resourceName, Number(entry.configValue));
    }
    return sizes;
  } catch {
    return new Map();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Dead letters carry their input record unchanged: a DLQ that cannot take the input's largest
 * record plus headers would refuse one, and its batch would wait until an operator raised the
 * DLQ's limit. The sentence that says so at start, before such a record arrives; undefined when
 * the DLQ has room (or either topic cannot be described).
 */
export async function deadLetterRoomWarning(kafka: Kafka, inputTopic: string, dlqTopic: string): Promise<string | undefined> {
  const sizes = await topicMaxMessageBytes(kafka, [inputTopic, dlqTopic]);
  const input = sizes.get(inputTopic);
  const dlq = sizes.get(dlqTopic);
  if (input === undefined || dlq === undefined || dlq >= input + DEAD_LETTER_HEADROOM_BYTES) return undefined;
  return (
    `The dead-letter topic ${dlqTopic} takes messages up to ${dlq} bytes, but a dead letter of ${inputTopic}'s largest record needs ${input + DEAD_LETTER_HEADROOM_BYTES}: ` +
    'raise its max.message.bytes, or a large bad record will hold up its batch'
  );
}

/**
 * The replay log of a DLQ (src/domain/replay.ts), made when missing: as many partitions as the
 * DLQ, so that the replays of one DLQ partition read only their own records; compacted, so that
 * it keeps a record per replayed dead letter for as long as the topic exists (keys are unique: a
 * dead letter is replayed once), where time-based retention could forget a replay whose dead
 * letter is still there. A DLQ that does not exist yet counts as one partition.
 */
export async function ensureReplayLog(kafka: Kafka, dlqTopic: string, logTopic: string): Promise<void> {
  const admin = kafka.admin();
  let partitions = 1;
  try {
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata({ topics: [dlqTopic] });
    partitions = Math.max(1, topics[0]?.partitions.length ?? 1);
  } catch (err) {
    if (kafkaErrorType(err) !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  await ensureTopics(kafka, [{ topic: logTopic, numPartitions: partitions, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }]);
}
