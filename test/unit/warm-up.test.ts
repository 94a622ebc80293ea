/**
 * An engine's rehearsal of the record path (src/worker/warm-up.ts) runs the real rules and
 * encoding on generated records, valid and invalid, with no service at all.
 */
import assert from 'node:assert/strict';
import { rehearseChunk, ruleSettings } from '../../src/activities/batch';
import { loadConfig } from '../../src/config';
import { readRecord } from '../../src/clients/range-reader';
import { createGenerator } from '../../src/generator/records';
import { warmUp } from '../../src/worker/warm-up';

describe('warm-up', () => {
  it('rehearses valid and invalid records into a produce request, without any service', async () => {
    const config = loadConfig({ KAFKA_BROKERS: '127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1', IP_MASKING: 'truncate' });
    const next = createGenerator({ invalidRatio: 0.5 });
    const records = Array.from({ length: 200 }, (_, i) => {
      const { key, value } = next();
      return readRecord(i % 3, String(i), Buffer.from(key), Buffer.from(value), '0', {});
    });
    const bytes = await rehearseChunk(config, ruleSettings(config), records);
    // Every record becomes an output (a login or a dead letter with its value): at least its value's bytes.
    assert.ok(bytes > records.reduce((sum, r) => sum + r.value!.length, 0));
    assert.ok(Number.isFinite(await warmUp(config)));
  });
});
