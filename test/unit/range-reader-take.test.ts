/**
 * How the range reader moves along a partition from one fetch's answer (src/clients/range-reader.ts
 * take): past offsets no record holds (a transaction's marker, the tail of a batch compaction
 * emptied), never past one it was not shown.
 */
import assert from 'node:assert/strict';
import type { KafkajsPartitionData, KafkajsRecord } from '../../src/clients/kafka';
import { OffsetsNotReadableError, take, type Cursor } from '../../src/clients/range-reader';

/** The records of one batch as kafkajs decodes them: the batch's first offset and last offset delta on each. */
const batch = (first: number, last: number, present: number[] = range(first, last + 1), options: { control?: boolean } = {}): KafkajsRecord[] =>
  present.map((offset) => ({
    offset: String(offset),
    key: options.control ? Buffer.from([0, 0, 0, 1]) : null,
    value: options.control ? null : Buffer.from(`v${offset}`),
    timestamp: '0',
    headers: {},
    isControlRecord: options.control,
    batchContext: { producerId: '-1', inTransaction: false, firstOffset: String(first), lastOffsetDelta: last - first },
  }));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const cursor = (next: number, end = 100): Cursor => ({ range: { partition: 0, from: String(next), to: String(end) }, next: BigInt(next), end: BigInt(end), buffered: [] });
const answer = (...batches: KafkajsRecord[][]): KafkajsPartitionData => ({ partition: 0, errorCode: 0, highWatermark: '100', lastStableOffset: '100', messages: batches.flat() });
const taken = (c: Cursor) => c.buffered.map((r) => Number(r.offset));

describe('the range reader moving along a partition', () => {
  it('takes the records from the offset asked for, from the batch that holds it', () => {
    const c = cursor(12);
    take('t', c, answer(batch(10, 14), batch(15, 16)), true);
    assert.deepEqual(taken(c), [12, 13, 14, 15, 16]);
    assert.equal(c.next, 17n);
  });

  it("moves past a transaction's marker", () => {
    const c = cursor(10);
    take('t', c, answer(batch(10, 11), batch(12, 12, [12], { control: true })), true);
    assert.deepEqual(taken(c), [10, 11]);
    assert.equal(c.next, 13n);
  });

  it('moves past the whole tail of a batch that compaction emptied, at once', () => {
    const c = cursor(12);
    take('t', c, answer(batch(10, 19, [10, 11])), true);
    assert.deepEqual(taken(c), []);
    assert.equal(c.next, 20n, 'offsets 12 to 19 hold no record');
    const d = cursor(12);
    take('t', d, answer(batch(10, 19, [10, 11, 17])), true);
    assert.deepEqual(taken(d), [17]);
    assert.equal(d.next, 20n);
  });

  it('never skips an offset it was not shown: batches that all end before it are no answer', () => {
    const c = cursor(12);
    assert.throws(() => take('t', c, answer(batch(5, 9), batch(10, 11)), true), OffsetsNotReadableError);
    assert.equal(c.next, 12n, 'offset 12 is still to be read');
    const other = cursor(12);
    take('t', other, answer(batch(10, 11)), false);
    assert.equal(other.next, 12n, 'a partition that did not need records now is asked again later');
  });

  it('stops at the end of its range', () => {
    const c = cursor(10, 13);
    take('t', c, answer(batch(10, 19)), true);
    assert.deepEqual(taken(c), [10, 11, 12]);
    assert.equal(c.next, 13n);
  });
});
