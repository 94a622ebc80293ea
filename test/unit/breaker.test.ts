/**
 * The circuit breaker's window and state (src/bridge/breaker.ts): it trips only when the last
 * batches, holding at least DLQ_MIN_RECORDS records, have more than DLQ_MAX_RATIO dead letters;
 * stays open until resumed; a resume lets the waiting backlog through uncounted.
 */
import assert from 'node:assert/strict';
import { BREAKER_OFF, CircuitBreaker } from '../../src/bridge/breaker';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const breaker = (maxRatio = 0.5, minRecords = 100) => new CircuitBreaker({ maxRatio, minRecords }, () => NOW);
const batch = (records: number, deadLetters: number) => ({ records, deadLetters });

describe('circuit breaker', () => {
  it('never trips before the window holds DLQ_MIN_RECORDS records, however bad they are', () => {
    const b = breaker();
    for (let i = 0; i < 9; i++) assert.equal(b.record(batch(10, 10)), false);
    assert.equal(b.open, false);
    assert.deepEqual(b.state().window, { records: 90, deadLetters: 90 });
    assert.equal(b.record(batch(10, 10)), true, 'the tenth batch fills the window');
    assert.equal(b.open, true);
  });

  it('trips on more than DLQ_MAX_RATIO, not on exactly it', () => {
    const b = breaker(0.5, 100);
    assert.equal(b.record(batch(100, 50)), false, 'exactly half');
    assert.equal(b.record(batch(100, 51)), true);
    const { tripped } = b.state();
    assert.deepEqual(tripped?.window, { records: 100, deadLetters: 51 }, 'the window dropped the older batch');
    assert.equal(tripped?.at, new Date(NOW).toISOString());
    assert.equal(tripped?.sentence, '51 of the last 100 records (51.0%) were dead-lettered, more than DLQ_MAX_RATIO=0.5 of at least DLQ_MIN_RECORDS=100');
  });

  it('forgets old batches once the newer ones hold DLQ_MIN_RECORDS: a long healthy past hides no flood', () => {
    const b = breaker(0.5, 100);
    for (let i = 0; i < 1000; i++) b.record(batch(50, 0));
    assert.deepEqual(b.state().window, { records: 100, deadLetters: 0 });
    assert.equal(b.record(batch(50, 50)), false, '50 of 100: not more than half');
    assert.deepEqual(b.state().window, { records: 100, deadLetters: 50 });
    assert.equal(b.record(batch(50, 50)), true, 'the flood alone fills the window');
    assert.deepEqual(b.state().tripped?.window, { records: 100, deadLetters: 100 });
  });

  it('stays open, ignoring the results of batches still in flight, until resumed', () => {
    const b = breaker(0.5, 10);
    assert.equal(b.record(batch(10, 10)), true);
    assert.equal(b.record(batch(10, 0)), false);
    assert.equal(b.record(batch(10, 10)), false, 'open already: no second trip');
    assert.equal(b.open, true);
  });

  it('lets the backlog waiting at the resume through uncounted, then watches again', () => {
    const b = breaker(0.5, 10);
    assert.equal(b.resume(5, 'test'), false, 'not open: nothing to resume');
    b.record(batch(10, 10));
    assert.equal(b.resume(25, 'POST /breaker/resume'), true);
    assert.equal(b.open, false);
    assert.deepEqual(b.state().resumed, { at: new Date(NOW).toISOString(), by: 'POST /breaker/resume' });
    assert.equal(b.record(batch(10, 10)), false);
    assert.equal(b.record(batch(10, 10)), false);
    assert.equal(b.state().grace, 5);
    assert.equal(b.record(batch(10, 10)), false, 'the last of the backlog');
    assert.equal(b.state().grace, 0);
    assert.deepEqual(b.state().window, { records: 0, deadLetters: 0 });
    assert.equal(b.record(batch(10, 10)), true, 'a flood after the backlog trips it again');
  });

  it('reports itself off when not configured', () => {
    assert.deepEqual(BREAKER_OFF, { enabled: false, open: false, settings: null, window: { records: 0, deadLetters: 0 }, tripped: null, grace: 0, resumed: null });
    assert.equal(breaker().state().enabled, true);
  });
});
