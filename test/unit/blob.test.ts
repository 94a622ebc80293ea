/**
 * The records blob of the first hand-off (workflows started before an upgrade): encodeRecords /
 * decodeRecords carry every record's exact bytes, and a crafted blob (a decompression bomb) is
 * refused without inflating past its bound.
 */
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { BlobFormatError, decodeRecords, encodeRecords, framedSize, MAX_INFLATED_BYTES, RECORDS_ENCODING } from '../../src/domain/blob';

const bytes = fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b));
const record = fc
  .record({
    offset: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }).map(String),
    key: fc.option(bytes, { nil: null }),
    value: fc.option(bytes, { nil: null }),
  })
  .map((r) => ({ ...r }));

describe('records blob of the first hand-off', () => {
  it('carries every record exactly: offsets up to 2^63, null, empty and binary keys and values', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(record, { maxLength: 60 }), async (records) => {
        const decoded = await decodeRecords(await encodeRecords(records), RECORDS_ENCODING);
        assert.deepStrictEqual(
          decoded.map((r) => ({ offset: r.offset, key: r.key && Buffer.from(r.key), value: r.value && Buffer.from(r.value) })),
          records,
        );
      }),
      { numRuns: 200 },
    );
  });

  it('keeps awkward byte sequences exact: BOM, NUL, empty, invalid and valid UTF-8', async () => {
    const values = [
      Buffer.alloc(0),
      Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
      Buffer.from([0x00]),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from('😀 \u2028 é', 'utf8'),
    ];
    const records = values.map((value, i) => ({ offset: String(i), key: value, value }));
    assert.deepStrictEqual(await decodeRecords(await encodeRecords(records), RECORDS_ENCODING), records);
  });

  it('compresses: a batch of JSON logins is several times smaller than its records', async () => {
    const records = Array.from({ length: 500 }, (_, i) => ({
      offset: String(i),
      key: Buffer.from(`key-${i}`),
      value: Buffer.from(JSON.stringify({ user_id: `user-${i % 50}`, app_version: '2.3.0', locale: 'WA', timestamp: 1720589697 + i })),
    }));
    const blob = await encodeRecords(records);
    const raw = records.reduce((n, r) => n + framedSize(r.offset, r.key, r.value), 0);
    assert.ok(blob.length * 3 < raw, `${blob.length} bytes for ${raw}`);
  });

  it('refuses an unknown encoding and a truncated blob with a named error', async () => {
    const blob = await encodeRecords([{ offset: '1', key: null, value: Buffer.from('abc') }]);
    await assert.rejects(decodeRecords(blob, 'json'), BlobFormatError);
    const truncated = deflateRawSync(Buffer.from([0, 1, 0x31, 0, 0, 0, 9, 1, 2]));
    await assert.rejects(decodeRecords(truncated, RECORDS_ENCODING));
  });

  it('refuses a decompression bomb with a named error, never inflating past its bound', async () => {
    const bomb = deflateRawSync(Buffer.alloc(MAX_INFLATED_BYTES * 4), { level: 9 });
    assert.ok(bomb.length < 100_000, `the bomb is small (${bomb.length} bytes)`);
    const before = process.memoryUsage().arrayBuffers;
    await assert.rejects(decodeRecords(bomb, RECORDS_ENCODING), (err: unknown) => err instanceof BlobFormatError && /does not inflate to at most/.test(err.message));
    assert.ok(process.memoryUsage().arrayBuffers - before < MAX_INFLATED_BYTES * 2, 'memory stayed within the bound');
  });
});
