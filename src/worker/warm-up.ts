/**
 * An engine's first batches ran at under half the speed of later ones: V8 interprets a function
 * before it compiles it, and an engine's record path starts cold. So an engine rehearses that path
 * on generated records (valid ones and some of every invalid kind) when it starts, before any batch
 * comes: read through the range reader from a stand-in broker (src/worker/rehearsal-kafka.ts),
 * decoded by kafkajs, then the rules, the aggregates, the outputs and their produce request, all
 * with the shapes real ones have. No I/O, nothing published, about a fifth of a second of CPU.
 */
import { deserialize, serialize } from 'node:v8';
import { ruleSettings, rehearseChunk } from '../activities/batch';
import { RangeReader } from '../clients/range-reader';
import type { Config } from '../config';
import type { OffsetRange } from '../domain/batch';
import { createGenerator } from '../generator/records';
import { rehearsalConnection } from './rehearsal-kafka';

const RECORDS = 2_000;
const PARTITIONS = 4;
const ROUNDS = 5;

/** Runs the rehearsal; returns how long it took, in ms. */
export async function warmUp(config: Config): Promise<number> {
  const started = performance.now();
  const next = createGenerator({ invalidRatio: 0.02, missingDeviceTypeRatio: 0.05 });
  const records = Array.from({ length: RECORDS }, () => {
    const { key, value } = next();
    return { key: Buffer.from(key), value: Buffer.from(value) };
  });
  const topic = config.kafka.inputTopic;
  const reader = new RangeReader(await rehearsalConnection(topic, records, PARTITIONS));
  const ranges: OffsetRange[] = Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, from: '0', to: String(RECORDS / PARTITIONS), incarnation: 'rehearsal' }));
  const rules = ruleSettings(config);
  for (let round = 0; round < ROUNDS; round++) {
    // As a batch's ranges reach an engine: through its channel's structured clone.
    const received = deserialize(serialize(ranges)) as OffsetRange[];
    for await (const chunk of reader.read(topic, received, { chunkBytes: config.batch.maxBytes })) await rehearseChunk(config, rules, chunk);
  }
  return performance.now() - started;
}
