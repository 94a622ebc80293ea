/**
 * A stand-in for Kafka in a worker engine's rehearsal (src/worker/warm-up.ts): one broker that
 * answers fetches from records it holds in memory, as Kafka's bytes (record batches in a fetch
 * response), which kafkajs's own fetch decoder then decodes. So the rehearsal reads through the
 * range reader, kafkajs's record decoding and take() as a batch does, with no network and no topic
 * touched: the code V8 compiles for it is the code a first real batch runs. A trace of V8's
 * optimisations in a 100,000-record run showed that path compiled during the first real batches,
 * because the rehearsal never ran it: with the shapes below, each engine's compilation during the
 * run fell from about 0.95 s to 0.27 s.
 */
import { Buffer } from 'node:buffer';
import { kafkajsPartitionMetadata, type KafkajsBroker, type KafkajsCluster, type KafkajsPartitionData } from '../clients/kafka';
import type { ReaderConnection } from '../clients/range-reader';

/* eslint-disable @typescript-eslint/no-require-imports */

interface KafkajsEncoder {
  buffer: Buffer;
  writeInt16(value: number): KafkajsEncoder;
  writeInt32(value: number): KafkajsEncoder;
  writeInt64(value: unknown): KafkajsEncoder;
  writeString(value: string): KafkajsEncoder;
  writeBytes(value: Buffer): KafkajsEncoder;
}

interface FetchResponse {
  decode(bytes: Buffer): Promise<unknown>;
  parse(decoded: unknown): Promise<{ responses: { topicName: string; partitions: KafkajsPartitionData[] }[] }>;
}

const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => KafkajsEncoder;
const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): unknown };
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (batch: object) => Promise<KafkajsEncoder> };
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (record: object) => unknown;
const fetchDefinition = require('kafkajs/src/protocol/requests/fetch/index.js') as {
  protocol(which: { version: number }): (request: object) => { response: FetchResponse };
};

/** The newest fetch kafkajs 2.2.4 knows, the one it asks Kafka 2.3 and later with; fetchResponse() writes its answer. */
const FETCH_VERSION = 11;

/** About what a producer's batch holds of generator records (kafkajs's default batch of 16 KiB). */
const RECORDS_PER_BATCH = 64;
const NODE_ID = 0;

export interface HeldRecord {
  key: Buffer;
  value: Buffer;
}

interface HeldPartition {
  /** The partition's record batches, as Kafka keeps them and sends them. */
  recordSet: Buffer;
  end: number;
}

/**
 * A connection to a cluster of one broker holding `records` in `topic`, spread over `partitions`
 * partitions in turn, from offset 0. Its fetches answer with every batch of the partitions asked for.
 */
export async function rehearsalConnection(topic: string, records: readonly HeldRecord[], partitions: number): Promise<ReaderConnection> {
  const held = new Map<number, HeldPartition>();
  for (let partition = 0; partition < partitions; partition++) {
    const own = records.filter((_, i) => i % partitions === partition);
    held.set(partition, { recordSet: await recordSet(own), end: own.length });
  }
  const broker: KafkajsBroker = {
    fetch: async (request) => {
      const { response } = fetchDefinition.protocol({ version: FETCH_VERSION })(request);
      const asked = request.topics.flatMap((t) => t.partitions.map((p) => p.partition));
      return response.parse(await response.decode(fetchResponse(topic, asked, held)));
    },
  };
  const cluster: KafkajsCluster = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    addTargetTopic: async () => undefined,
    refreshMetadata: async () => undefined,
    findLeaderForPartitions: (_topic, asked) => ({ [NODE_ID]: asked }),
    findTopicPartitionMetadata: () => [...held.keys()].map((partitionId) => kafkajsPartitionMetadata(partitionId, NODE_ID)),
    findBroker: async () => broker,
    fetchTopicsOffset: async () => {
      throw new Error('The rehearsal reads ranges only.');
    },
  };
  return { cluster, connect: async () => undefined, close: async () => undefined };
}

/** A partition's records as a producer's record batches: offsets from 0, create times of now. */
async function recordSet(records: readonly HeldRecord[]): Promise<Buffer> {
  const batches: Buffer[] = [];
  const now = Date.now();
  for (let first = 0; first < records.length; first += RECORDS_PER_BATCH) {
    const own = records.slice(first, first + RECORDS_PER_BATCH);
    const batch = await RecordBatch({
      firstOffset: Long.fromValue(first),
      firstTimestamp: now,
      maxTimestamp: now,
      lastOffsetDelta: own.length - 1,
      records: own.map(({ key, value }, offsetDelta) => Record({ offsetDelta, key, value })),
    });
    batches.push(batch.buffer);
  }
  return Buffer.concat(batches);
}

/** A fetch response (FETCH_VERSION) holding each asked partition's batches, none aborted. */
function fetchResponse(topic: string, asked: readonly number[], held: ReadonlyMap<number, HeldPartition>): Buffer {
  const out = new Encoder().writeInt32(0).writeInt16(0).writeInt32(0).writeInt32(1).writeString(topic).writeInt32(asked.length);
  for (const partition of asked) {
    const { recordSet, end } = held.get(partition) ?? { recordSet: Buffer.alloc(0), end: 0 };
    out.writeInt32(partition).writeInt16(0).writeInt64(end).writeInt64(end).writeInt64(0).writeInt32(0).writeInt32(-1).writeBytes(recordSet);
  }
  return out.buffer;
}
