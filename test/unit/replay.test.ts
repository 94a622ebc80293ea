/** The pure parts of the dead-letter replay (src/domain/replay.ts): ids, segments, counts, log records. */
import assert from 'node:assert/strict';
import {
  addCounts,
  deadLetterIdentity,
  describeSelection,
  emptyCounts,
  groupOf,
  offsetsOf,
  parseReplayLogEntry,
  replayLaneId,
  replayLogTopic,
  replayWorkflowId,
  segmentsOf,
  totalsOf,
  validateReplayInput,
} from '../../src/domain/replay';
import { replayMarker } from '../../src/activities/replay';

describe('replay (pure parts)', () => {
  it('names a replay by its selection, readably, and its lane and log by the DLQ', () => {
    assert.equal(replayWorkflowId('user-login-dlq', {}, false), 'replay/user-login-dlq/all');
    assert.equal(replayWorkflowId('user-login-dlq', {}, true), 'replay/user-login-dlq/all/dry-run');
    assert.equal(
      replayWorkflowId('d', { reason: 'invalid_field', field: 'app_version', sinceMs: Date.UTC(2026, 0, 1), untilMs: Date.UTC(2026, 0, 2) }, false),
      'replay/d/reason=invalid_field/field=app_version/since=2026-01-01T00:00:00.000Z/until=2026-01-02T00:00:00.000Z',
    );
    assert.equal(describeSelection({}), 'every dead letter');
    assert.equal(describeSelection({ reason: 'missing_field', sinceMs: Date.UTC(2026, 0, 1) }), 'reason missing_field, failed from 2026-01-01T00:00:00.000Z to now');
    assert.equal(replayLaneId('login-pipeline', 'user-login-dlq', 3), 'login-pipeline/replay/user-login-dlq/3');
    assert.equal(replayLogTopic('user-login-dlq'), 'user-login-dlq.replayed');
  });

  it('cuts a partition\'s range into segments from where the replay is', () => {
    const range = { partition: 2, from: '10', to: '1210' };
    assert.deepEqual(segmentsOf(range, undefined, 500).map((s) => `${s.from}-${s.to}`), ['10-510', '510-1010', '1010-1210']);
    assert.deepEqual(segmentsOf(range, '1010', 500).map((s) => `${s.from}-${s.to}`), ['1010-1210']);
    assert.deepEqual(segmentsOf(range, '1210', 500), []);
    assert.deepEqual(segmentsOf({ partition: 0, from: '7', to: '7' }, undefined, 500), []);
    assert.equal(offsetsOf([range, { partition: 0, from: '0', to: '5' }]), 1205);
  });

  it('adds counts group by group, largest first, keeping the first sample', () => {
    const a = emptyCounts();
    a.read = 10;
    Object.assign(groupOf(a, 'invalid_field', 'app_version'), { selected: 3, replayed: 2, stillInvalid: 1, stillInvalidSample: { reason: 'invalid_field', field: 'app_version', error: 'x.', partition: 0, offset: '1' } });
    const b = emptyCounts();
    b.read = 5;
    Object.assign(groupOf(b, 'missing_field', 'user_id'), { selected: 4, stillInvalid: 4 });
    Object.assign(groupOf(b, 'invalid_field', 'app_version'), { selected: 2, alreadyReplayed: 2 });
    const sum = addCounts(a, b);
    assert.equal(sum.read, 15);
    assert.deepEqual(sum.groups.map((g) => [g.reason, g.selected]), [['invalid_field', 5], ['missing_field', 4]]);
    assert.equal(sum.groups[0]!.stillInvalidSample?.offset, '1');
    assert.deepEqual(totalsOf(sum), { selected: 9, replayed: 2, alreadyReplayed: 2, stillInvalid: 5, notReplayable: 0 });
    assert.equal(a.groups[0]!.selected, 3, 'the inputs are left as they were');
  });

  it('reads back its log records, and nothing else', () => {
    const entry = { dlq: { topic: 'd', partition: 1, offset: '9' }, identity: 'in:0:5@2026-01-01T00:00:00.000Z', replay: 'replay/d/all', run: 'r1', replayed_at: '2026-01-01T00:00:01.000Z' };
    assert.deepEqual(parseReplayLogEntry(Buffer.from(JSON.stringify(entry))), entry);
    assert.equal(parseReplayLogEntry(null), undefined);
    assert.equal(parseReplayLogEntry(Buffer.from('{"dlq":{}}')), undefined);
    assert.equal(parseReplayLogEntry(Buffer.from('not json')), undefined);
  });

  it('tells dead letters apart by what they carry, not by their place alone', () => {
    const source = { topic: 'in', partition: 0, offset: '5' };
    const identity = deadLetterIdentity(source, '2026-01-01T00:00:00.000Z');
    assert.equal(identity, 'in:0:5@2026-01-01T00:00:00.000Z');
    assert.notEqual(replayMarker('d', 1, '9', identity), replayMarker('d', 1, '9', deadLetterIdentity(source, '2026-01-02T00:00:00.000Z')));
    assert.match(replayMarker('d', 1, '9', identity), /^replay\/d\/1\/9#[0-9a-f]{12}$/);
  });
});

describe('replay input checks', () => {
  it('accepts what the command sends, and names what is wrong in a crafted input', () => {
    const ok = { dlqTopic: 'd', selection: { reason: 'invalid_field', sinceMs: 1 }, dryRun: false };
    assert.equal(validateReplayInput(ok), undefined);
    assert.equal(validateReplayInput({ ...ok, segmentOffsets: 500 }), undefined);
    assert.equal(validateReplayInput(null), 'it is not an object');
    assert.equal(validateReplayInput({ ...ok, dlqTopic: '' }), 'dlqTopic is not a topic name');
    assert.equal(validateReplayInput({ ...ok, selection: { reason: 7 } }), 'selection.reason is not a string');
    assert.equal(validateReplayInput({ ...ok, selection: { untilMs: 'soon' } }), 'selection.untilMs is not a time in epoch milliseconds');
    assert.equal(validateReplayInput({ ...ok, segmentOffsets: 0 }), 'segmentOffsets is not a whole number from 1 to 1000000');
    assert.equal(validateReplayInput({ ...ok, dryRun: 'yes' }), 'dryRun is not true or false');
  });
});
