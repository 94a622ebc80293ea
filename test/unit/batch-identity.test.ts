/** Pure pieces of the hand-off: ranges in memos, chunk marks, re-drive chains, commit metadata, input checks. */
import assert from 'node:assert/strict';
import { validateBatchSpec } from '../../src/activities/validate';
import { nextInChain } from '../../src/bridge/redrive';
import { chunkMark, CHUNKS_PER_BATCH, formatRanges, parseRanges, type BatchSpec } from '../../src/domain/batch';
import { formatCommitMetadata, parseCommitMetadata } from '../../src/domain/commit-metadata';

const spec = (): BatchSpec => ({
  batchId: 'g/t/run.0.1',
  groupId: 'g',
  topic: 't',
  ranges: [{ partition: 0, from: '5', to: '9', incarnation: 'abc' }],
  lane: { id: 'g/t/run/lane-0', seq: 1 },
  cutAtMs: 1_700_000_000_000,
});

describe('batch identity', () => {
  it('writes ranges in a memo and reads them back', () => {
    const ranges = [{ partition: 0, from: '5', to: '9' }, { partition: 12, from: '9223372036854775000', to: '9223372036854775807' }];
    assert.equal(formatRanges(ranges.map((r) => ({ ...r, incarnation: 'x' }))), '0:5-9 12:9223372036854775000-9223372036854775807');
    assert.deepEqual(parseRanges(formatRanges(ranges.map((r) => ({ ...r, incarnation: 'x' })))), ranges);
    assert.equal(parseRanges('0:5-x'), undefined);
    assert.equal(parseRanges(undefined), undefined);
  });

  it('orders chunk marks by batch, then chunk', () => {
    assert.ok(chunkMark(1, CHUNKS_PER_BATCH > 5n ? 5 : 0) < chunkMark(2, 0));
    assert.ok(chunkMark(2, 0) < chunkMark(2, 1));
    assert.equal(chunkMark(3, 7), 3n * CHUNKS_PER_BATCH + 7n);
  });

  it('re-drives a batch three times, then dead-letters what is left, then stops', () => {
    const chain: string[] = [];
    for (let id: string | undefined = 'batch/g/t/r.0.1'; id !== undefined; id = nextInChain(id)) chain.push(id);
    assert.deepEqual(chain, ['batch/g/t/r.0.1', 'batch/g/t/r.0.1#redrive-1', 'batch/g/t/r.0.1#redrive-2', 'batch/g/t/r.0.1#redrive-3', 'batch/g/t/r.0.1#dead-letter']);
  });

  it('keeps the incarnation token and an intent in commit metadata, and ignores others\' metadata', () => {
    assert.deepEqual(parseCommitMetadata(formatCommitMetadata({ token: 'abc', intent: 'batch/x' })), { token: 'abc', intent: 'batch/x' });
    assert.deepEqual(parseCommitMetadata(formatCommitMetadata({ token: 'abc' })), { token: 'abc', intent: undefined });
    assert.deepEqual(parseCommitMetadata(''), {});
    assert.deepEqual(parseCommitMetadata('event-id-3'), {});
    assert.deepEqual(parseCommitMetadata('{"t":"x"}'), {}, 'without our version it is not ours');
  });

  it('accepts a batch as the bridge makes it, and names what is wrong with a crafted one', () => {
    assert.equal(validateBatchSpec(spec()), undefined);
    assert.equal(validateBatchSpec({ ...spec(), void: true, ranges: [] }), undefined);
    const broken: [string, unknown][] = [
      ['not an object', null],
      ['batchId', { ...spec(), batchId: '' }],
      ['lane.seq', { ...spec(), lane: { id: 'l', seq: 0 } }],
      ['ends before it starts', { ...spec(), ranges: [{ partition: 0, from: '9', to: '5', incarnation: 'a' }] }],
      ['two ranges', { ...spec(), ranges: [{ partition: 0, from: '1', to: '5', incarnation: 'a' }, { partition: 0, from: '5', to: '9', incarnation: 'a' }] }],
      ['decimal strings', { ...spec(), ranges: [{ partition: 0, from: '-1', to: '5', incarnation: 'a' }] }],
      ['incarnation', { ...spec(), ranges: [{ partition: 0, from: '1', to: '5' }] }],
      ['cutAtMs', { ...spec(), cutAtMs: 'now' }],
    ];
    for (const [words, input] of broken) assert.match(validateBatchSpec(input) ?? 'accepted', new RegExp(words), JSON.stringify(input));
  });
});
