/**
 * Reconcile's pure part: the window in whole buckets, the expected aggregates from the topic's
 * logins (each source once, late ones left out, as the worker aggregates), and the comparison
 * with Redis's summary: exact counts exactly, estimates within their bound.
 */
import assert from 'node:assert/strict';
import { bucketWindow, compareWithRedis, contractBound, estimateBound, ExpectedAggregates, parseLogin, type ReconcileOutcome } from '../../src/domain/reconcile';
import type { SummaryBody } from '../../src/domain/types';
import { loginMaker } from '../helpers/logins';

const B = 1_720_612_800; // 2024-07-10T12:00:00Z, a bucket start
const SETTINGS = { bucketSeconds: 60, retentionSeconds: 3600 };
const WINDOW = { startS: B, endS: B + 300 };
const PROCESSED_AT = new Date((B + 400) * 1000).toISOString();

const login = loginMaker({ timestamp: B + 10, processedAt: PROCESSED_AT });

/** Redis's summary of what `logins` should have produced, with its estimates exact. */
function summaryOf(expected: ExpectedAggregates): SummaryBody {
  const app_versions: SummaryBody['app_versions'] = {};
  for (const [version, t] of expected.versions) {
    app_versions[version] = { logins: t.logins, unique_users: t.users.size, unique_devices: t.devices.size, device_types: { ...t.deviceTypes }, locales: { ...t.locales } };
  }
  return {
    window: { start: '', end: '', seconds: 300 },
    generated_at: '',
    totals: { logins: expected.logins, unique_users: expected.users.size },
    app_versions,
  };
}

function differences(outcome: ReconcileOutcome) {
  return outcome.differences.map((d) => [d.app_version, d.field, d.topic, d.redis]);
}

describe('reconcile', () => {
  it('resolves a window to the whole buckets Redis reads', () => {
    assert.deepEqual(bucketWindow((B + 30) * 1000, (B + 270) * 1000, 60), { startS: B, endS: B + 300 });
    assert.deepEqual(bucketWindow(B * 1000, (B + 300) * 1000, 60), { startS: B, endS: B + 300 });
    assert.deepEqual(bucketWindow(B * 1000, (B + 300) * 1000 + 1, 60), { startS: B, endS: B + 360 });
  });

  it('counts each source once, only logins of the window (and of the version asked), and leaves late ones out', () => {
    const expected = new ExpectedAggregates(SETTINGS, WINDOW);
    const a = login({ user_id: 'u1', device_type: 'android', locale: 'CA' });
    const b = login({ user_id: 'u1', app_version: '3.1', timestamp: B + 299, device_id: null });
    const repeat = { ...a, batch_id: 'batch-b' };
    const outside = [login({ timestamp: B - 1 }), login({ timestamp: B + 300 })];
    // Published an hour and more after its event time: older than the retention when processed.
    const late = login({ timestamp: B + 5, processed_at: new Date((B + 3700) * 1000).toISOString() });
    expected.add([a, b, ...outside]);
    expected.add([repeat, late]);
    assert.equal(expected.read, 6);
    assert.equal(expected.inWindow, 3);
    assert.equal(expected.duplicates, 1);
    assert.equal(expected.late, 1);
    assert.equal(expected.logins, 2);
    assert.deepEqual([...expected.versions.keys()].sort(), ['2.3.0', '3.1']);
    assert.deepEqual({ ...expected.versions.get('2.3.0')!.deviceTypes }, { android: 1 });
    assert.deepEqual({ ...expected.versions.get('2.3.0')!.locales }, { CA: 1 });
    assert.equal(expected.versions.get('3.1')!.devices.size, 0);
    assert.equal(expected.users.size, 1, 'u1 in both versions is one user of the totals');

    const one = new ExpectedAggregates(SETTINGS, WINDOW, '3.1');
    one.add([a, b]);
    assert.deepEqual([...one.versions.keys()], ['3.1']);
  });

  it('is green when Redis says what the topic says, and names every value that differs', () => {
    const expected = new ExpectedAggregates(SETTINGS, WINDOW);
    expected.add(Array.from({ length: 40 }, (_, i) => login({ app_version: i % 4 ? '2.3.0' : '3.1', locale: Math.floor(i / 4) % 2 ? 'WA' : 'unknown', timestamp: B + i * 7 })));
    const redis = summaryOf(expected);
    const green = compareWithRedis(expected, redis, 40);
    assert.deepEqual(green.differences, []);
    // Per version: logins, 1 device type, 2 locales, 2 estimates; the totals: logins, their counter, users.
    assert.equal(green.compared.length, 2 * 6 + 3);

    const counted = structuredClone(redis);
    counted.app_versions['2.3.0']!.logins += 1;
    counted.totals.logins += 1;
    counted.app_versions['3.1']!.locales.WA = (counted.app_versions['3.1']!.locales.WA ?? 0) - 3;
    counted.app_versions['3.1']!.device_types.web = 2;
    counted.app_versions['9.9'] = { logins: 1, unique_users: 1, unique_devices: 0, device_types: {}, locales: {} };
    assert.deepEqual(differences(compareWithRedis(expected, counted, 39)), [
      ['2.3.0', 'logins', 30, 31],
      ['3.1', 'device_types.web', 0, 2],
      ['3.1', 'locales.WA', 5, 2],
      ['9.9', 'logins', 0, 1],
      // 9.9's one unique user is within an estimate's bound of 1.
      [null, 'logins', 40, 41],
      [null, 'logins_counter', 40, 39],
    ]);
  });

  it('allows an estimate 4 standard errors off (3.24%), never less than 1, and reports one beyond the contract\'s 2%', () => {
    assert.equal(estimateBound(0), 1);
    assert.equal(estimateBound(49), 1);
    assert.equal(estimateBound(150), 4);
    assert.equal(estimateBound(10_000), 324);
    assert.equal(contractBound(150), 3);
    assert.equal(contractBound(10_000), 200);
    const expected = new ExpectedAggregates(SETTINGS, WINDOW);
    expected.add(Array.from({ length: 150 }, () => login()));
    const redis = summaryOf(expected);
    const at = (users: number) => {
      const r = structuredClone(redis);
      r.app_versions['2.3.0']!.unique_users = users;
      const outcome = compareWithRedis(expected, r);
      return { differences: outcome.differences.map((d) => d.field), beyondContract: outcome.beyondContract.map((d) => d.field) };
    };
    assert.deepEqual(at(153), { differences: [], beyondContract: [] });
    assert.deepEqual(at(154), { differences: [], beyondContract: ['unique_users'] });
    assert.deepEqual(at(146), { differences: [], beyondContract: ['unique_users'] });
    assert.deepEqual(at(155), { differences: ['unique_users'], beyondContract: [] });
    assert.deepEqual(at(145), { differences: ['unique_users'], beyondContract: [] });
  });

  it('reads a login record only when it has what reconcile needs', () => {
    const good = login();
    assert.deepEqual(parseLogin(Buffer.from(JSON.stringify(good))), good);
    assert.equal(parseLogin(null), undefined);
    assert.equal(parseLogin(Buffer.from('{"type":"login"')), undefined);
    assert.equal(parseLogin(Buffer.from([0xff])), undefined);
    for (const broken of [{ timestamp: 1.5 }, { source: { topic: 't', partition: '0', offset: '1' } }, { processed_at: 'later' }, { device_id: 7 }, { type: 'summary' }]) {
      assert.equal(parseLogin(Buffer.from(JSON.stringify({ ...good, ...broken }))), undefined, JSON.stringify(broken));
    }
  });
});
