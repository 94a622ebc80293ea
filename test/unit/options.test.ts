import assert from 'node:assert/strict';
import { parseOptions, parseTime } from '../../src/cli/options';
import { UsageError } from '../../src/errors';

describe('command-line options', () => {
  const now = Date.parse('2026-11-25T12:00:00Z');

  it('reads a time as ISO-8601, epoch seconds or milliseconds, now, or a duration ago', () => {
    assert.equal(parseTime('since', '2026-11-25T11:00:00Z', now), Date.parse('2026-11-25T11:00:00Z'));
    assert.equal(parseTime('since', '1795600000', now), 1_795_600_000_000);
    assert.equal(parseTime('since', '1795600000123', now), 1_795_600_000_123);
    assert.equal(parseTime('until', 'now', now), now);
    assert.equal(parseTime('since', '90s', now), now - 90_000);
    assert.equal(parseTime('since', '15m', now), now - 15 * 60_000);
    assert.equal(parseTime('since', '2h', now), now - 2 * 3_600_000);
    assert.equal(parseTime('since', '1d', now), now - 86_400_000);
  });

  it('refuses anything else with one sentence naming the option', () => {
    for (const text of ['yesterday', '15 m', '-15m', '1w', '']) {
      assert.throws(() => parseTime('since', text, now), (err: unknown) => err instanceof UsageError && /^--since must be .*got ".*"\.$/.test(err.message), text);
    }
  });

  it('takes --name value and --name=value, and names an unknown option', () => {
    assert.deepEqual(parseOptions(['--since', '15m', '--json', '--until=now'], { since: 'string', until: 'string', json: 'boolean' }), { since: '15m', json: true, until: 'now' });
    assert.throws(() => parseOptions(['--sinse', '1h'], { since: 'string' }), /Unknown option --sinse; expected one of --since\./);
  });
});
