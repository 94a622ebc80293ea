/**
 * A consumer group's committed offset as it stands once every transaction that commits offsets
 * for it is decided: OffsetFetch with require_stable (KIP-447, Kafka 2.5+). A lane's mark (src/
 * clients/transactions.ts) is committed inside the transaction that publishes its chunk; the
 * group coordinator applies such an offset only when the commit marker reaches it, a moment after
 * the transaction is complete. Read without require_stable in that moment, the mark is the old
 * one, and a chunk published an instant earlier would be published again.
 *
 * kafkajs 2.2.4 speaks OffsetFetch up to v4, without require_stable, so this sends v7 itself
 * through the group coordinator's connection (kafkajs's internal Cluster, as src/clients/kafka.ts
 * explains); errors are kafkajs's own, and the retriable ones are retried.
 */
import { createRequire } from 'node:module';
import { isRetriable, kafkaErrorType, PipelineError } from '../errors';
import { retry } from '../process/retry';
import type { KafkajsCluster } from './kafka';

const kafkajsRequire = createRequire(require.resolve('kafkajs'));
const Encoder = kafkajsRequire('./src/protocol/encoder') as new () => KafkajsEncoder;
const Decoder = kafkajsRequire('./src/protocol/decoder') as new (buffer: Buffer) => KafkajsDecoder;
const { createErrorFromCode } = kafkajsRequire('./src/protocol/error') as { createErrorFromCode: (code: number) => Error };

const OFFSET_FETCH = 9;
const REQUIRE_STABLE_VERSION = 7;
/** Retried until decided: a transaction is still completing, or the coordinator moved or is loading. */
const RETRIED = new Set(['UNSTABLE_OFFSET_COMMIT', 'NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE', 'GROUP_COORDINATOR_NOT_AVAILABLE']);

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
  versions?: Record<number, { minVersion: number; maxVersion: number }>;
  connectionPool: { send(request: object): Promise<unknown> };
}

interface StablePartition {
  partition: number;
  offset: string;
  errorCode: number;
}

/** The stable committed offset of `groupId` on `topic` `partition`; -1 when it has none. */
export async function fetchStableOffset(cluster: KafkajsCluster, groupId: string, topic: string, partition: number): Promise<bigint> {
  return retry(
    async () => {
      const coordinator = (await (cluster as unknown as { findGroupCoordinator(o: { groupId: string }): Promise<CoordinatorBroker> }).findGroupCoordinator({ groupId })) as CoordinatorBroker;
      requireStableSupport(coordinator);
      const answer = (await coordinator.connectionPool.send(offsetFetchV7(groupId, topic, partition))) as StablePartition[];
      const found = answer.find((p) => p.partition === partition);
      if (!found) throw new PipelineError(`The group coordinator did not answer for ${topic} partition ${partition} of group ${groupId}.`, { retriable: true });
      if (found.errorCode !== 0) throw createErrorFromCode(found.errorCode);
      return BigInt(found.offset);
    },
    { retries: 20, initialMs: 20, maxMs: 1_000, retriable: (err) => (err instanceof PipelineError && isRetriable(err)) || RETRIED.has(kafkaErrorType(err) ?? '') },
  );
}

function requireStableSupport(broker: CoordinatorBroker): void {
  const max = broker.versions?.[OFFSET_FETCH]?.maxVersion;
  if (max !== undefined && max < REQUIRE_STABLE_VERSION) {
    throw new PipelineError('This Kafka cannot read committed offsets stably (OffsetFetch v7, Kafka 2.5 or newer): exactly-once publishing needs it.', { retriable: false });
  }
}

/** OffsetFetch v7, a flexible version: compact strings and arrays, tagged fields (none). */
function offsetFetchV7(groupId: string, topic: string, partition: number) {
  return {
    request: {
      apiKey: OFFSET_FETCH,
      apiVersion: REQUIRE_STABLE_VERSION,
      apiName: 'OffsetFetch',
      encode: async () => {
        const partitions = new Encoder().writeUVarInt(2).writeInt32(partition);
        const topics = new Encoder().writeUVarInt(2).writeUVarIntString(topic).writeEncoder(partitions).writeUVarInt(0);
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
