/**
 * The bridge's chunker and the records blob: sized() gives each fetched record its exact size in
 * the blob, takeChunk cuts the longest prefix that fits a batch, and encodeRecords/decodeRecords
 * carry every record's exact bytes through Temporal.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HARD_PAYLOAD_LIMIT, isOversized, sized, takeChunk, type FetchedMessage, type SizedRecord } from '../../src/bridge/chunker';
import { BlobFormatError, decodeRecords, encodeRecords, framedSize, RECORDS_ENCODING } from '../../src/domain/blob';

const msg = (offset: number | string, value: Buffer | null, key: Buffer | null = null): FetchedMessage => ({ offset: String(offset), key, value });
/** Messages with given sizes (takeChunk only looks at `size`). */
const withSizes = (sizes: number[]): SizedRecord[] =>
  sizes.map((size, i) => ({ record: { offset: String(100 + i), key: null, value: Buffer.from('x') }, size }));
const offsets = (ms: SizedRecord[]): string[] => ms.map((m) => m.record.offset);
const bytes = fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b));
const record = fc
  .record({
    offset: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }).map(String),
    key: fc.option(bytes, { nil: null }),
    value: fc.option(bytes, { nil: null }),
  })
  .map((r) => ({ ...r }));

describe('chunker and records blob', () => {
  describe('encodeRecords / decodeRecords', () => {
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
      const { deflateRawSync } = await import('node:zlib');
      const truncated = deflateRawSync(Buffer.from([0, 1, 0x31, 0, 0, 0, 9, 1, 2]));
      await assert.rejects(decodeRecords(truncated, RECORDS_ENCODING));
    });
  });

  describe('sized', () => {
    it('gives the exact size the record takes in the blob', async () => {
      await fc.assert(
        fc.asyncProperty(record, async (r) => {
          const s = sized(r);
          assert.deepStrictEqual(s.record, r);
          assert.equal(s.size, 2 + r.offset.length + 8 + (r.key?.length ?? 0) + (r.value?.length ?? 0));
        }),
        { numRuns: 200 },
      );
    });
  });

  describe('isOversized', () => {
    it('compares the size with the limit, both sides', () => {
      assert.equal(isOversized(sized(msg(1, Buffer.alloc(HARD_PAYLOAD_LIMIT - 20, 'a')))), false);
      assert.equal(isOversized(sized(msg(1, Buffer.alloc(HARD_PAYLOAD_LIMIT, 0xff)))), true);
      assert.equal(isOversized(sized(msg(1, null))), false);
      const at = { record: { offset: '1', key: null, value: null }, size: HARD_PAYLOAD_LIMIT };
      assert.equal(isOversized(at), false);
      assert.equal(isOversized({ ...at, size: HARD_PAYLOAD_LIMIT + 1 }), true);
    });
  });

  describe('takeChunk', () => {
    it('respects maxRecords', () => {
      assert.deepStrictEqual(offsets(takeChunk(withSizes([1, 1, 1, 1, 1]), 3, 1_000)), ['100', '101', '102']);
      assert.deepStrictEqual(offsets(takeChunk(withSizes([1, 1, 1]), 1, 1_000)), ['100']);
      assert.deepStrictEqual(offsets(takeChunk(withSizes([1, 1, 1]), 10, 1_000)), ['100', '101', '102']);
    });

    it('respects maxBytes: the longest prefix whose sizes fit', () => {
      assert.deepStrictEqual(offsets(takeChunk(withSizes([40, 30, 30, 1]), 10, 100)), ['100', '101', '102']);
      assert.deepStrictEqual(offsets(takeChunk(withSizes([40, 30, 31, 1]), 10, 100)), ['100', '101'], 'stops before the one that overflows, even if a later one fits');
      assert.deepStrictEqual(offsets(takeChunk(withSizes([100, 1]), 10, 100)), ['100']);
    });

    it('always takes at least one message, even one larger than maxBytes', () => {
      assert.deepStrictEqual(offsets(takeChunk(withSizes([500, 1, 1]), 10, 100)), ['100']);
      assert.deepStrictEqual(takeChunk([], 10, 100), []);
    });

    it('cutting repeatedly keeps offset order, covers every message once, and obeys both limits', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 5_000 }), { maxLength: 80 }),
          fc.integer({ min: 1, max: 20 }),
          fc.integer({ min: 1_024, max: 20_000 }),
          (sizes, maxRecords, maxBytes) => {
            const all = withSizes(sizes);
            let rest = all;
            const seen: string[] = [];
            while (rest.length > 0) {
              const chunk = takeChunk(rest, maxRecords, maxBytes);
              assert.ok(chunk.length >= 1 && chunk.length <= maxRecords);
              const total = chunk.reduce((n, m) => n + m.size, 0);
              assert.ok(chunk.length === 1 || total <= maxBytes, `${total} > ${maxBytes}`);
              assert.deepStrictEqual(chunk, rest.slice(0, chunk.length), 'not a prefix');
              const next = rest[chunk.length];
              if (next !== undefined && chunk.length < maxRecords) assert.ok(total + next.size > maxBytes, 'the chunk stopped early');
              seen.push(...offsets(chunk));
              rest = rest.slice(chunk.length);
            }
            assert.deepStrictEqual(seen, offsets(all));
          },
        ),
        { numRuns: 300 },
      );
    });

    it('does not modify its input', () => {
      const input = withSizes([10, 20, 30]);
      const before = input.map((m) => `${m.record.offset}/${m.size}`);
      takeChunk(input, 2, 25);
      assert.deepStrictEqual(input.map((m) => `${m.record.offset}/${m.size}`), before);
    });
  });
});
