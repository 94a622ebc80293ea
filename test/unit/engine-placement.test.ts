/**
 * Which engine a batch goes to (src/worker/pool.ts placeCall): the one with the fewest records
 * left to finish, a lane staying on its engine unless that one is more than a margin behind.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MOVE_MARGIN_RECORDS, placeCall } from '../../src/worker/pool';

const engine = (unfinished: number, working = unfinished > 0 ? 1 : 0, keys = 0) => ({ unfinished, working, keys });

describe('placing a batch on an engine', () => {
  it('puts a new lane on the engine with the fewest records left to finish, not the fewest batches', () => {
    // Measured at the end of a 100,000-record run: one engine had a batch of 10,000 records just
    // begun, the other two nearly done; counting batches sent the last one to the first.
    assert.equal(placeCall([engine(10_000, 1), engine(2_400, 2)], undefined, true), 1);
  });

  it('breaks ties by batches under way, then by lanes held', () => {
    assert.equal(placeCall([engine(0, 1, 0), engine(0, 0, 3)], undefined, true), 1);
    assert.equal(placeCall([engine(0, 0, 4), engine(0, 0, 3)], undefined, true), 1);
    assert.equal(placeCall([engine(0, 0, 3), engine(0, 0, 3)], undefined, true), 0);
  });

  it('keeps a lane on its engine while it is at most the margin behind, and moves it once it is more', () => {
    assert.equal(placeCall([engine(MOVE_MARGIN_RECORDS), engine(0)], 0, true), 0);
    assert.equal(placeCall([engine(MOVE_MARGIN_RECORDS + 1), engine(0)], 0, true), 1);
  });

  it('never moves a key that may not move (a summary, a first hand-off batch)', () => {
    assert.equal(placeCall([engine(1_000_000), engine(0)], 0, false), 0);
  });

  it('forgets an engine that no longer exists', () => {
    assert.equal(placeCall([engine(5), engine(0)], 2, true), 1);
  });

  it('always chooses an engine at most a margin behind the idlest, and the idlest for a new lane', () => {
    const loads = fc.array(fc.record({ unfinished: fc.nat(50_000), working: fc.nat(8), keys: fc.nat(8) }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(loads, fc.option(fc.nat(5), { nil: undefined }), (engines, current) => {
        const least = Math.min(...engines.map((e) => e.unfinished));
        const chosen = placeCall(engines, current, true);
        assert.ok(chosen >= 0 && chosen < engines.length);
        assert.ok(engines[chosen]!.unfinished <= least + MOVE_MARGIN_RECORDS);
        if (current === undefined || current >= engines.length) assert.equal(engines[chosen]!.unfinished, least);
      }),
    );
  });
});
