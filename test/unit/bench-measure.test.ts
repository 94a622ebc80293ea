import assert from 'node:assert/strict';
import fc from 'fast-check';
import { flatnessOf, laterRate, tenthsOut } from '../../src/bench/measure';

describe('bench: when each tenth of a run was out', () => {
  it('gives the time by which each tenth had passed, from the start, in any order of outputs', () => {
    // 20 outputs, two per 100 ms from 1,000 ms after a start at 0, given last first.
    const times = Array.from({ length: 20 }, (_, i) => 1_000 + Math.floor(i / 2) * 100).reverse();
    assert.deepEqual(tenthsOut(0, times), [1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9]);
    // 2 records out by 1.0 s, the other 18 in the 0.9 s after.
    assert.equal(laterRate(20, tenthsOut(0, times)), 20);
  });

  it('shows a slow start as a long first tenth, and the rate after it', () => {
    // 1,000 records: the first 100 take 1 s, the other 900 come out at 1,000 a second.
    const times = [...Array.from({ length: 100 }, (_, i) => 10 * (i + 1)), ...Array.from({ length: 900 }, (_, i) => 1_000 + i + 1)];
    const tenths = tenthsOut(0, times);
    assert.equal(tenths[0], 1);
    assert.equal(tenths[9], 1.9);
    assert.equal(laterRate(1_000, tenths), 1_000);
  });

  it('has no later rate when there is nothing to divide by', () => {
    assert.deepEqual(tenthsOut(0, []), []);
    assert.equal(laterRate(0, []), null);
    assert.equal(laterRate(10, tenthsOut(0, Array.from({ length: 10 }, () => 5))), null, 'all out at once');
  });

  it('is ordered, ends with the last output, and counts one tenth per step (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 500 }), (times) => {
        const tenths = tenthsOut(0, times);
        assert.equal(tenths.length, 10);
        for (let i = 1; i < 10; i++) assert.ok(tenths[i]! >= tenths[i - 1]!);
        assert.equal(tenths[9], Math.max(...times) / 1000);
        const byFirst = times.filter((t) => t / 1000 <= tenths[0]!).length;
        assert.ok(byFirst >= Math.ceil(times.length / 10), 'a tenth of the outputs by the first mark');
      }),
    );
  });
});

describe('bench: flatness with input size', () => {
  const run = (records: number, recordsPerS: number) => ({ records, records_per_s: recordsPerS, seconds: records / recordsPerS, tenths_s: [], later_records_per_s: null, lost: 0, duplicates: 0 });

  it('sets the large size against the mean of the small one before and after it', () => {
    // A machine that sped up through the phase: 50,000 then 60,000 at the small size, 55,000 at the large.
    const flatness = flatnessOf([run(100_000, 50_000), run(1_000_000, 55_000), run(100_000, 60_000)]);
    assert.equal(flatness.small_records_per_s, 55_000);
    assert.equal(flatness.large_records_per_s, 55_000);
    assert.equal(flatness.ratio, 1);
    assert.deepEqual(flatness.runs.map((r) => r.records), [100_000, 1_000_000, 100_000]);
  });

  it('gives a ratio above 1 when the large size is faster', () => {
    assert.equal(flatnessOf([run(100_000, 50_000), run(1_000_000, 60_000), run(100_000, 50_000)]).ratio, 1.2);
  });

  it('takes only small, large, small', () => {
    assert.throws(() => flatnessOf([run(100_000, 1), run(1_000_000, 1)]), /three runs/);
    assert.throws(() => flatnessOf([run(100_000, 1), run(1_000_000, 1), run(200_000, 1)]), /three runs/);
  });
});
