/**
 * An engine's first batches ran at under half the speed of later ones: V8 interprets a function
 * before it compiles it, and an engine's record path starts cold. At 100,000 records, the first
 * 17,000 took 0.9 s where later ones went at 60,000 a second. So an engine rehearses that path on
 * generated records (valid ones and some of every invalid kind) when it starts, before any batch
 * comes: no I/O, nothing published, about a tenth of a second of CPU.
 */
import { ruleSettings, rehearseChunk } from '../activities/batch';
import { readRecord, type RangeRecord } from '../clients/range-reader';
import type { Config } from '../config';
import { createGenerator } from '../generator/records';

const RECORDS = 2_000;
const ROUNDS = 5;

/** Runs the rehearsal; returns how long it took, in ms. */
export async function warmUp(config: Config): Promise<number> {
  const started = performance.now();
  const next = createGenerator({ invalidRatio: 0.02, missingDeviceTypeRatio: 0.05 });
  const records: RangeRecord[] = Array.from({ length: RECORDS }, (_, i) => {
    const { key, value } = next();
    return readRecord(i % 4, String(i), Buffer.from(key), Buffer.from(value), String(Date.now()), {});
  });
  const rules = ruleSettings(config);
  for (let round = 0; round < ROUNDS; round++) await rehearseChunk(config, rules, records);
  return performance.now() - started;
}
