/**
 * What a read_committed reader sees of a fetch: control records never, records of aborted
 * transactions never, committed ones always, whatever the fetch starts in the middle of.
 */
import assert from 'node:assert/strict';
import { committedRecords } from '../../src/clients/range-reader';
import type { KafkajsRecord } from '../../src/clients/kafka';

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);
const record = (offset: number, producerId: string, inTransaction = true): KafkajsRecord => ({
  offset: String(offset),
  key: null,
  value: Buffer.from(`${producerId}@${offset}`),
  timestamp: '0',
  headers: {},
  batchContext: { producerId, inTransaction },
});
const marker = (offset: number, producerId: string, key: Buffer): KafkajsRecord => ({ ...record(offset, producerId), key, value: null, isControlRecord: true });
const offsets = (records: KafkajsRecord[]) => records.map((r) => Number(r.offset));

describe('records a read_committed reader sees', () => {
  it('drops aborted transactions and markers, keeps committed and non-transactional records', () => {
    const fetched = [record(10, 'a'), record(11, 'b'), record(12, 'x', false), marker(13, 'a', ABORT), marker(14, 'b', COMMIT), record(15, 'a')];
    assert.deepEqual(offsets(committedRecords(fetched, [{ producerId: 'a', firstOffset: '10' }])), [11, 12, 15]);
  });

  it('drops the first record of a fetch that starts inside two aborted transactions (kafkajs 2.2.4 lets it through)', () => {
    // Producers a and b each began a transaction (at 100 and 101) that was later aborted; the
    // fetch starts at 103, a record of b's.
    const fetched = [record(103, 'b'), record(104, 'a'), marker(105, 'a', ABORT), marker(106, 'b', ABORT), record(107, 'c')];
    const aborted = [{ producerId: 'a', firstOffset: '100' }, { producerId: 'b', firstOffset: '101' }];
    assert.deepEqual(offsets(committedRecords(fetched, aborted)), [107]);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const kafkajsFilter = require('kafkajs/src/consumer/filterAbortedMessages') as (args: { messages: KafkajsRecord[]; abortedTransactions: typeof aborted }) => KafkajsRecord[];
    const leaked = kafkajsFilter({ messages: fetched, abortedTransactions: aborted }).filter((r) => !r.isControlRecord);
    assert.deepEqual(offsets(leaked), [103, 107], "kafkajs's own filter, for the record: why the reader has its own");
  });

  it('compares offsets of any length as numbers', () => {
    const fetched = [record(9, 'a'), record(10, 'a'), marker(11, 'a', ABORT), record(100, 'a')];
    assert.deepEqual(offsets(committedRecords(fetched, [{ producerId: 'a', firstOffset: '10' }])), [9, 100]);
  });
});
