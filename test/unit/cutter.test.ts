/**
 * The bridge's cut: when a batch is due, and how its offsets are shared among partitions. Each
 * partition's range starts where it stands and stays below its end, no batch holds more than
 * BATCH_MAX_RECORDS offsets, and partitions are served fairly.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cutRanges, MAX_LOOK_MS, nextLookMs, pendingOffsets, shouldCut, type PartitionPosition } from '../../src/bridge/cutter';

const position = (partition: number, next: number, end: number): PartitionPosition => ({ partition, next: BigInt(next), end: BigInt(end), incarnation: `i${partition}` });
const positions = fc
  .uniqueArray(fc.record({ partition: fc.nat(63), next: fc.nat(1_000_000), extra: fc.nat(5_000) }), { selector: (p) => p.partition, maxLength: 40 })
  .map((ps) => ps.map((p) => position(p.partition, p.next, p.next + p.extra)));

describe('cutting batches', () => {
  it('cuts when a full batch waits, or when the oldest record has waited BATCH_MAX_WAIT_MS', () => {
    const settings = { maxRecords: 100, maxWaitMs: 200 };
    assert.equal(shouldCut(0, 1000, 5000, settings), false, 'nothing waits');
    assert.equal(shouldCut(5, 1000, 1199, settings), false, 'too early');
    assert.equal(shouldCut(5, 1000, 1200, settings), true, 'waited long enough');
    assert.equal(shouldCut(100, 1000, 1001, settings), true, 'a full batch is there');
  });

  it('gives every waiting partition a range, starting where it stands, within BATCH_MAX_RECORDS', () => {
    fc.assert(
      fc.property(positions, fc.integer({ min: 1, max: 20_000 }), (ps, maxRecords) => {
        const ranges = cutRanges(ps, maxRecords);
        const total = ranges.reduce((n, r) => n + Number(BigInt(r.to) - BigInt(r.from)), 0);
        const pending = pendingOffsets(ps);
        assert.equal(total, Math.min(pending, Math.max(maxRecords, 0)) > 0 ? total : 0);
        assert.ok(total <= Math.max(maxRecords, 1), `${total} offsets for at most ${maxRecords}`);
        if (pending > 0) assert.ok(total > 0, 'a batch holds something when something waits');
        if (pending <= maxRecords) assert.equal(total, pending, 'everything waiting fits: all of it goes');
        for (const r of ranges) {
          const p = ps.find((x) => x.partition === r.partition)!;
          assert.equal(BigInt(r.from), p.next);
          assert.ok(BigInt(r.to) > BigInt(r.from) && BigInt(r.to) <= p.end);
          assert.equal(r.incarnation, p.incarnation);
        }
        assert.deepEqual(ranges.map((r) => r.partition), [...ranges.map((r) => r.partition)].sort((a, b) => a - b), 'in partition order');
      }),
      { numRuns: 500 },
    );
  });

  it('shares a full batch fairly: a partition with a small backlog leaves its share to the others', () => {
    const ranges = cutRanges([position(0, 0, 10), position(1, 0, 1000), position(2, 0, 1000)], 100);
    assert.deepEqual(ranges.map((r) => [r.partition, Number(r.to) - Number(r.from)]), [[0, 10], [1, 45], [2, 45]]);
  });

  describe('when to look again while records wait for a batch not yet due', () => {
    const settings = { maxRecords: 10_000, maxWaitMs: 200 };

    it('waits until the batch is due when records trickle in, instead of looking every interval', () => {
      // 2,000 records/s: about 100 records waiting at the first look.
      assert.equal(nextLookMs(100, 1000, 1000, settings, 50), 200);
      assert.equal(nextLookMs(300, 1000, 1150, settings, 50), 50, 'the rest of the wait');
      assert.equal(nextLookMs(300, 1000, 1250, settings, 50), 0, 'overdue: at once');
    });

    it('looks again before a full batch could be waiting when records pour in', () => {
      // 50,000 records/s: 2,500 within the interval, so 7,500 more in 150 ms.
      assert.equal(nextLookMs(2_500, 1000, 1000, settings, 50), 150);
      assert.equal(nextLookMs(9_000, 1000, 1000, settings, 50), 50, 'not sooner than the interval');
    });

    it('never looks later than due, than a full batch at the rate seen, or than a second; never sooner than the interval unless due sooner', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 20_000 }),
          fc.integer({ min: 0, max: 120_000 }),
          fc.integer({ min: 1, max: 20_000 }),
          fc.integer({ min: 1, max: 120_000 }),
          fc.integer({ min: 10, max: 50 }),
          (pending, waited, maxRecords, maxWaitMs, intervalMs) => {
            const s = { maxRecords, maxWaitMs };
            const look = nextLookMs(pending, 1_000_000, 1_000_000 + waited, s, intervalMs);
            const untilDue = Math.max(0, maxWaitMs - waited);
            assert.ok(look >= 0 && look <= untilDue && look <= MAX_LOOK_MS, `${look} ms, due in ${untilDue}`);
            assert.ok(look >= Math.min(intervalMs, untilDue), `${look} ms is sooner than the interval ${intervalMs}`);
            if (look > intervalMs) {
              const perMs = pending / Math.max(intervalMs, waited);
              assert.ok(pending + perMs * look <= maxRecords, `a full batch of ${maxRecords} could wait before ${look} ms`);
            }
          },
        ),
        { numRuns: 1000 },
      );
    });
  });
});
