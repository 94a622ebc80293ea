/**
 * A consumer group's committed offsets as they stand once every transaction that commits offsets
 * for it is decided: OffsetFetch with require_stable (KIP-447, Kafka 2.5+). A lane's mark (src/
 * clients/transactions.ts) is committed inside the transaction that publishes its chunk; the
 * group coordinator applies such an offset only when the commit marker reaches it, a moment after
 * the transaction is complete. Read without require_stable in that moment, the mark is the old
 * one, and a chunk published an instant earlier would be published again.
 *
 * kafkajs 2.2.4 speaks OffsetFetch up to v4, without require_stable, so this sends v7 itself
 * through the group coordinator's connection (kafkajs's internal Cluster, as src/clients/kafka.ts
 * explains); errors are kafkajs's own, and the retriable ones are retried.
 *
 * The coordinator is looked up once per cluster and group, and again once it moved or its
 * connection broke (src/clients/kafkajs-coordinators.ts). kafkajs's admin.fetchOffsets, which
 * the bridge's read-back of each intent and each batch's incarnation check used, costs three
 * requests a call: FindCoordinator (kafkajs keeps no coordinator), Metadata (its admin's cluster has
 * no metadata max age, so every call refreshes it) and OffsetFetch. This is the OffsetFetch alone.
 */
import { createRequire } from 'node:module';
import { isRetriable, kafkaErrorType, PipelineError } from '../errors';
import { retry } from '../process/retry';
import type { KafkajsCluster } from './kafka';
import { coordinatorLost, keptCoordinators, type CoordinatorFinder } from './kafkajs-coordinators';

const kafkajsRequire = createRequire(require.resolve('kafkajs'));
const Encoder = kafkajsRequire('./src/protocol/encoder') as new () => KafkajsEncoder;
const Decoder = kafkajsRequire('./src/protocol/decoder') as new (buffer: Buffer) => KafkajsDecoder;
const { createErrorFromCode } = kafkajsRequire('./src/protocol/error') as { createErrorFromCode: (code: number) => Error };

const OFFSET_FETCH = 9;
const REQUIRE_STABLE_VERSION = 7;
/** Retried until decided: a transaction is still completing (a coordinator's move is retried too). */
const UNSTABLE_OFFSET_COMMIT = 'UNSTABLE_OFFSET_COMMIT';

interface KafkajsEncoder {
  writeInt32(v: number): KafkajsEncoder;
  writeBoolean(v: boolean): KafkajsEncoder;
  writeUVarInt(v: number): KafkajsEncoder;
  writeUVarIntString(v: string): KafkajsEncoder;
  writeEncoder(v: KafkajsEncoder): KafkajsEncoder;
}

interface KafkajsDecoder {
  readInt16(): number;
  readInt32(): number;
  readInt64(): bigint | { toString(): string };
  readUVarInt(): number;
  readUVarIntString(): string | null;
  readUVarIntArray<T>(reader: (d: KafkajsDecoder) => T): T[] | null;
  readTaggedFields(): unknown;
}

/** The part of kafkajs's Broker this needs. */
interface CoordinatorBroker {
  isConnected(): boolean;
  versions?: Record<number, { minVersion: number; maxVersion: number }>;
  connectionPool: { send(request: object): Promise<unknown> };
}

interface StablePartition {
  partition: number;
  offset: string;
  metadata: string | null;
  errorCode: number;
}

/** A partition's committed position in a group: offset -1 and empty metadata when it has none. */
export interface CommittedOffset {
  offset: bigint;
  metadata: string | null;
}

/** The stable committed offset of `groupId` on `topic` `partition`; -1 when it has none. */
export async function fetchStableOffset(cluster: KafkajsCluster, groupId: string, topic: string, partition: number): Promise<bigint> {
  const committed = await fetchCommittedOffsets(cluster, groupId, topic, [partition]);
  return committed.get(partition)!.offset;
}

/** The stable committed offsets of `groupId` on each of `topic`'s `partitions`, with their metadata. */
export async function fetchCommittedOffsets(cluster: KafkajsCluster, groupId: string, topic: string, partitions: readonly number[]): Promise<Map<number, CommittedOffset>> {
  return retry(
    async () => {
      const coordinator = await keptCoordinators(cluster as unknown as CoordinatorFinder<CoordinatorBroker>).acquire({ groupId });
      try {
        requireStableSupport(coordinator.broker);
        const answer = (await coordinator.broker.connectionPool.send(offsetFetchV7(groupId, topic, partitions))) as StablePartition[];
        return committedByPartition(answer, groupId, topic, partitions);
      } catch (err) {
        if (coordinatorLost(err)) coordinator.forget();
        throw err;
      }
    },
    {
      retries: 20,
      initialMs: 20,
      maxMs: 1_000,
      retriable: (err) => (err instanceof PipelineError && isRetriable(err)) || kafkaErrorType(err) === UNSTABLE_OFFSET_COMMIT || coordinatorLost(err),
    },
  );
}

function committedByPartition(answer: readonly StablePartition[], groupId: string, topic: string, partitions: readonly number[]): Map<number, CommittedOffset> {
  const committed = new Map<number, CommittedOffset>();
  for (const partition of partitions) {
    const found = answer.find((p) => p.partition === partition);
    if (!found) throw new PipelineError(`The group coordinator did not answer for ${topic} partition ${partition} of group ${groupId}.`, { retriable: true });
    if (found.errorCode !== 0) throw createErrorFromCode(found.errorCode);
    committed.set(partition, { offset: BigInt(found.offset), metadata: found.metadata ?? null });
  }
  return committed;
}

function requireStableSupport(broker: CoordinatorBroker): void {
  const max = broker.versions?.[OFFSET_FETCH]?.maxVersion;
  if (max !== undefined && max < REQUIRE_STABLE_VERSION) {
    throw new PipelineError('This Kafka cannot read committed offsets stably (OffsetFetch v7, Kafka 2.5 or newer): exactly-once publishing needs it.', { retriable: false });
  }
}

/** OffsetFetch v7, a flexible version: compact strings and arrays, tagged fields (none). */
function offsetFetchV7(groupId: string, topic: string, partitions: readonly number[]) {
  return {
    request: {
      apiKey: OFFSET_FETCH,
      apiVersion: REQUIRE_STABLE_VERSION,
      apiName: 'OffsetFetch',
      encode: async () => {
        // Compact arrays: their length plus one.
        const partitionList = new Encoder().writeUVarInt(partitions.length + 1);
        for (const partition of partitions) partitionList.writeInt32(partition);
        const topics = new Encoder().writeUVarInt(2).writeUVarIntString(topic).writeEncoder(partitionList).writeUVarInt(0);
        return (
          new Encoder()
            // kafkajs writes request header v1; v2 adds its tagged fields, here, first.
            .writeUVarInt(0)
            .writeUVarIntString(groupId)
            .writeEncoder(topics)
            .writeBoolean(true)
            .writeUVarInt(0)
        );
      },
    },
    response: {
      decode: async (payload: Buffer) => {
        const decoder = new Decoder(payload);
        decoder.readTaggedFields(); // response header v1
        const throttleTime = decoder.readInt32();
        const topics = decoder.readUVarIntArray((t) => {
          const name = t.readUVarIntString();
          const partitions = t.readUVarIntArray((p) => {
            const result = { partition: p.readInt32(), offset: String(p.readInt64()), leaderEpoch: p.readInt32(), metadata: p.readUVarIntString(), errorCode: p.readInt16() };
            p.readTaggedFields();
            return result;
          });
          t.readTaggedFields();
          return { name, partitions: partitions ?? [] };
        });
        const errorCode = decoder.readInt16();
        return { throttleTime, topics: topics ?? [], errorCode };
      },
      parse: async (data: { topics: { name: string | null; partitions: StablePartition[] }[]; errorCode: number }) => {
        if (data.errorCode !== 0) throw createErrorFromCode(data.errorCode);
        return data.topics.flatMap((t) => t.partitions);
      },
    },
  };
}
