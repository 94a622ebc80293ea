/**
 * The bridge's chunker: encodeMessage sizes a fetched message, takeChunk cuts the longest
 * prefix that fits a batch. Sizes must never be under the real JSON size, or a batch could
 * overflow Temporal's payload limit.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeMessage, HARD_PAYLOAD_LIMIT, isOversized, takeChunk, type EncodedMessage, type FetchedMessage } from '../../src/bridge/chunker';
import { decodeBytes, encodeBytes, encodedSize } from '../../src/domain/bytes';

const msg = (offset: number | string, value: Buffer | null, key: Buffer | null = null): FetchedMessage => ({ offset: String(offset), key, value });
const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));
/** Messages with given sizes (takeChunk only looks at `size`). */
const sized = (sizes: number[]): EncodedMessage[] =>
  sizes.map((size, i) => ({ record: { offset: String(100 + i), key: null, value: 'x' }, size }));
const offsets = (ms: EncodedMessage[]): string[] => ms.map((m) => m.record.offset);

/** Strings rich in what JSON escapes or widens: control characters, quotes, backslashes, non-ASCII. */
const nastyChar = fc.oneof(
  fc.constantFrom('"', '\\', '\u0000', '\u0001', '\u001f', '\n', '\t', '\u007f', '\u2028', 'é', '€', '😀', '\ud800', '\udfff', 'a', '/', '<'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const nastyString = fc.array(nastyChar, { maxLength: 300 }).map((a) => a.join(''));

describe('chunker', () => {
  describe('encodeMessage', () => {
    it('keeps the offset and carries UTF-8 text as a string, other bytes as base64, null as null', () => {
      const text = encodeMessage(msg('9007199254740993', Buffer.from('{"user_id":"é"}'), Buffer.from('key-1')));
      assert.deepStrictEqual(text.record, { offset: '9007199254740993', key: 'key-1', value: '{"user_id":"é"}' });
      const binary = encodeMessage(msg(5, Buffer.from([0xff, 0xfe, 0x7b])));
      assert.deepStrictEqual(binary.record, { offset: '5', key: null, value: { b64: '//57' } });
      const nulls = encodeMessage(msg(6, null, null));
      assert.deepStrictEqual(nulls.record, { offset: '6', key: null, value: null });
      assert.ok(nulls.size >= jsonBytes(nulls.record));
    });

    it('binary values survive encode → JSON → decodeBytes unchanged', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 400 }), fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }), (value, key) => {
          const v = Buffer.from(value);
          const k = key === null ? null : Buffer.from(key);
          const { record } = encodeMessage(msg(1, v, k));
          const travelled = JSON.parse(JSON.stringify(record)) as typeof record;
          assert.deepStrictEqual(decodeBytes(travelled.value), v);
          assert.deepStrictEqual(decodeBytes(travelled.key), k);
          assert.deepStrictEqual(decodeBytes(record.value), v);
        }),
        { numRuns: 300 },
      );
    });

    it('keeps awkward byte sequences exact: BOM, NUL, empty, invalid and valid UTF-8', () => {
      const cases = [
        Buffer.alloc(0),
        Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
        Buffer.from([0x00]),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from([0xf4, 0x90, 0x80, 0x80]),
        Buffer.from('😀 \u2028 é', 'utf8'),
        Buffer.from([0xf0, 0x9f, 0x98]),
      ];
      for (const b of cases) {
        const { record } = encodeMessage(msg(1, b));
        assert.deepStrictEqual(decodeBytes(JSON.parse(JSON.stringify(record.value)) as typeof record.value), b, b.toString('hex'));
      }
      assert.equal(decodeBytes(null), null);
    });

    it('a size is never below the real JSON size of the record (random strings with escapes)', () => {
      fc.assert(
        fc.property(nastyString, fc.option(nastyString, { nil: null }), fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }), (value, key, offset) => {
          const m = encodeMessage(msg(offset.toString(), Buffer.from(value), key === null ? null : Buffer.from(key)));
          assert.ok(m.size >= jsonBytes(m.record), `size ${m.size} < ${jsonBytes(m.record)} for ${JSON.stringify(value)}`);
          const encoded = encodeBytes(Buffer.from(value));
          assert.ok(encodedSize(Buffer.from(value), encoded) >= jsonBytes(encoded));
        }),
        { numRuns: 500 },
      );
    });

    it('a size is never below the real JSON size for large values', () => {
      fc.assert(
        fc.property(nastyChar, fc.integer({ min: 16 * 1024 - 4, max: 40_000 }), fc.string({ maxLength: 20 }), (ch, n, tail) => {
          const value = Buffer.from(ch.repeat(n) + tail);
          const m = encodeMessage(msg(123456789, value, Buffer.from(tail)));
          assert.ok(m.size >= jsonBytes(m.record), `size ${m.size} < ${jsonBytes(m.record)} for ${JSON.stringify(ch)} x ${n}`);
        }),
        { numRuns: 60 },
      );
    });

    it('a size is never below the real JSON size for binary values', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
          const m = encodeMessage(msg(42, Buffer.from(bytes), Buffer.from(bytes.slice(0, 10))));
          assert.ok(m.size >= jsonBytes(m.record));
          const encoded = encodeBytes(Buffer.from(bytes));
          const size = encodedSize(Buffer.from(bytes), encoded);
          assert.ok(size >= jsonBytes(encoded), `${size} < ${jsonBytes(encoded)}`);
        }),
        { numRuns: 200 },
      );
    });

    it('a batch of chunked records is within the sum of their sizes', () => {
      fc.assert(
        fc.property(fc.array(nastyString, { minLength: 1, maxLength: 20 }), (values) => {
          const ms = values.map((v, i) => encodeMessage(msg(i, Buffer.from(v))));
          const chunk = takeChunk(ms, 500, 1_000_000);
          assert.ok(jsonBytes(chunk.map((m) => m.record)) <= chunk.reduce((n, m) => n + m.size, 0));
        }),
        { numRuns: 200 },
      );
    });
  });

  describe('isOversized', () => {
    it('is true for a value above HARD_PAYLOAD_LIMIT bytes, false for a small one', () => {
      assert.equal(isOversized(encodeMessage(msg(1, Buffer.alloc(HARD_PAYLOAD_LIMIT + 1, 'a')))), true);
      assert.equal(isOversized(encodeMessage(msg(1, Buffer.alloc(HARD_PAYLOAD_LIMIT + 1, 0xff)))), true);
      assert.equal(isOversized(encodeMessage(msg(1, Buffer.alloc(1024, 'a')))), false);
      assert.equal(isOversized(encodeMessage(msg(1, null))), false);
    });

    it('is true for binary that base64 grows past the limit', () => {
      const value = Buffer.alloc(Math.ceil((HARD_PAYLOAD_LIMIT * 3) / 4) + 3, 0xff);
      assert.equal(isOversized(encodeMessage(msg(1, value))), true);
    });

    it('compares the size with the limit, both sides', () => {
      const at = { record: { offset: '1', key: null, value: null }, size: HARD_PAYLOAD_LIMIT };
      assert.equal(isOversized(at), false);
      assert.equal(isOversized({ ...at, size: HARD_PAYLOAD_LIMIT + 1 }), true);
    });

    it('every message whose JSON exceeds the limit is oversized', () => {
      // A value just under the limit whose record, with its JSON punctuation, is just over it.
      for (const value of [Buffer.alloc(HARD_PAYLOAD_LIMIT - 5, 'a'), Buffer.alloc(HARD_PAYLOAD_LIMIT / 6, 0x01)]) {
        const m = encodeMessage(msg(1, value));
        assert.ok(jsonBytes(m.record) > HARD_PAYLOAD_LIMIT, 'fixture');
        assert.equal(isOversized(m), true);
      }
    });
  });

  describe('takeChunk', () => {
    it('respects maxRecords', () => {
      assert.deepStrictEqual(offsets(takeChunk(sized([1, 1, 1, 1, 1]), 3, 1_000)), ['100', '101', '102']);
      assert.deepStrictEqual(offsets(takeChunk(sized([1, 1, 1]), 1, 1_000)), ['100']);
      assert.deepStrictEqual(offsets(takeChunk(sized([1, 1, 1]), 10, 1_000)), ['100', '101', '102']);
    });

    it('respects maxBytes: the longest prefix whose sizes fit', () => {
      assert.deepStrictEqual(offsets(takeChunk(sized([40, 30, 30, 1]), 10, 100)), ['100', '101', '102']);
      assert.deepStrictEqual(offsets(takeChunk(sized([40, 30, 31, 1]), 10, 100)), ['100', '101'], 'stops before the one that overflows, even if a later one fits');
      assert.deepStrictEqual(offsets(takeChunk(sized([100, 1]), 10, 100)), ['100']);
    });

    it('always takes at least one message, even one larger than maxBytes', () => {
      assert.deepStrictEqual(offsets(takeChunk(sized([500, 1, 1]), 10, 100)), ['100']);
      assert.deepStrictEqual(takeChunk([], 10, 100), []);
    });

    it('cutting repeatedly keeps offset order, covers every message once, and obeys both limits', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 5_000 }), { maxLength: 80 }),
          fc.integer({ min: 1, max: 20 }),
          fc.integer({ min: 1_024, max: 20_000 }),
          (sizes, maxRecords, maxBytes) => {
            const all = sized(sizes);
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
      const input = sized([10, 20, 30]);
      const copy = structuredClone(input);
      takeChunk(input, 2, 25);
      assert.deepStrictEqual(input, copy);
    });
  });
});
