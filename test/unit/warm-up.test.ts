/**
 * An engine's rehearsal of the record path (src/worker/warm-up.ts) runs the real reading, rules
 * and encoding on generated records, valid and invalid, with no service at all.
 */
import assert from 'node:assert/strict';
import { rehearseChunk, ruleSettings } from '../../src/activities/batch';
import { loadConfig } from '../../src/config';
import { RangeReader, readRecord } from '../../src/clients/range-reader';
import { createGenerator } from '../../src/generator/records';
import { rehearsalConnection } from '../../src/worker/rehearsal-kafka';
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

  it('reads a range from the stand-in broker as from Kafka: decoded by kafkajs, by offset, in chunks', async () => {
    const held = Array.from({ length: 300 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`value ${i}`) }));
    const reader = new RangeReader(await rehearsalConnection('rehearsal', held, 3));
    const chunks: { offset: string; key: string | undefined; value: string | undefined; headers: unknown }[][] = [];
    for await (const chunk of reader.read('rehearsal', [{ partition: 1, from: '10', to: '100' }], { chunkBytes: 200 })) {
      chunks.push(chunk.map((r) => ({ offset: r.offset, key: r.key?.toString(), value: r.value?.toString(), headers: r.headers })));
    }
    const records = chunks.flat();
    assert.ok(chunks.length > 1, 'a chunk holds at most 200 bytes of keys and values');
    assert.deepEqual(records.map((r) => r.offset), Array.from({ length: 90 }, (_, i) => String(10 + i)));
    // Partition 1 holds every third record from the second: its offset 10 is record 31.
    assert.deepEqual(records[0], { offset: '10', key: 'k31', value: 'value 31', headers: {} });
    assert.equal(records.at(-1)!.value, 'value 298');
  });
});
