/**
 * aggregateLogins: what one batch adds to the rolling insights, bucketed by event time.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { aggregateLogins, bucketOf, MAX_CATEGORY_CHARS, OVERLONG_CATEGORY, type BucketDelta } from '../../src/domain/aggregates';
import type { ProcessedLogin } from '../../src/domain/types';
import { loginMaker } from '../helpers/logins';

const NOW_MS = Date.UTC(2024, 6, 10, 12, 0, 30, 700);
const NOW_S = 1_720_612_830; // 2024-07-10T12:00:30Z
const SETTINGS = { bucketSeconds: 60, retentionSeconds: 3600 };
/** The first kept bucket: the bucket holding now - retention (2024-07-10T11:00:00Z). */
const OLDEST_KEPT = 1_720_609_200;
const B = 1_720_612_800; // the bucket 2024-07-10T12:00:00Z

const login = loginMaker({ timestamp: B + 10, processedAt: new Date(NOW_MS).toISOString(), ip: '25.67.253.124' });

/** A delta as plain data: sorted lists, counts as sorted entries (prototype-free maps compare safely). */
function plain(d: BucketDelta) {
  return {
    appVersion: d.appVersion,
    bucket: d.bucket,
    logins: d.logins,
    users: [...d.users].sort(),
    devices: [...d.devices].sort(),
    deviceTypes: Object.entries(d.deviceTypes).sort(),
    locales: Object.entries(d.locales).sort(),
  };
}
function deltasOf(logins: ProcessedLogin[], nowMs = NOW_MS) {
  const result = aggregateLogins(logins, SETTINGS, nowMs);
  const deltas = result.deltas.map(plain).sort((a, b) => a.appVersion.localeCompare(b.appVersion) || a.bucket - b.bucket);
  return { deltas, late: result.late };
}

describe('aggregateLogins', () => {
  it('checks its own fixture: NOW_S and OLDEST_KEPT', () => {
    assert.equal(Math.floor(NOW_MS / 1000), NOW_S);
    assert.equal(bucketOf(NOW_S - SETTINGS.retentionSeconds, 60), OLDEST_KEPT);
    assert.equal(bucketOf(B + 59, 60), B);
    assert.equal(bucketOf(B + 60, 60), B + 60);
  });

  it('gives nothing for no logins', () => {
    assert.deepStrictEqual(aggregateLogins([], SETTINGS, NOW_MS), { deltas: [], late: 0 });
  });

  it('buckets by event time (timestamp), not by processing time, per app version', () => {
    const logins = [
      login({ user_id: 'a', device_id: 'd1', timestamp: B }),
      login({ user_id: 'b', device_id: 'd2', timestamp: B + 59 }),
      login({ user_id: 'c', device_id: 'd3', timestamp: B + 60 }),
      login({ user_id: 'd', device_id: 'd4', timestamp: B - 1 }),
      login({ user_id: 'e', device_id: 'd5', timestamp: B + 5, app_version: '3.1' }),
    ];
    assert.deepStrictEqual(deltasOf(logins), {
      late: 0,
      deltas: [
        { appVersion: '2.3.0', bucket: B - 60, logins: 1, users: ['d'], devices: ['d4'], deviceTypes: [['ios', 1]], locales: [['WA', 1]] },
        { appVersion: '2.3.0', bucket: B, logins: 2, users: ['a', 'b'], devices: ['d1', 'd2'], deviceTypes: [['ios', 2]], locales: [['WA', 2]] },
        { appVersion: '2.3.0', bucket: B + 60, logins: 1, users: ['c'], devices: ['d3'], deviceTypes: [['ios', 1]], locales: [['WA', 1]] },
        { appVersion: '3.1', bucket: B, logins: 1, users: ['e'], devices: ['d5'], deviceTypes: [['ios', 1]], locales: [['WA', 1]] },
      ],
    });
  });

  it('keeps users and devices distinct per bucket while counting every login', () => {
    const logins = [
      login({ user_id: 'u1', device_id: 'dA' }),
      login({ user_id: 'u1', device_id: 'dA' }),
      login({ user_id: 'u1', device_id: 'dB' }),
      login({ user_id: 'u2', device_id: 'dA' }),
      login({ user_id: 'u3', device_id: null }),
    ];
    const { deltas } = deltasOf(logins);
    assert.equal(deltas.length, 1);
    assert.equal(deltas[0]!.logins, 5);
    assert.deepStrictEqual(deltas[0]!.users, ['u1', 'u2', 'u3']);
    assert.deepStrictEqual(deltas[0]!.devices, ['dA', 'dB'], 'a null device_id is not a device');
    const raw = aggregateLogins(logins, SETTINGS, NOW_MS).deltas[0]!;
    assert.equal(new Set(raw.users).size, raw.users.length);
    assert.equal(new Set(raw.devices).size, raw.devices.length);
  });

  it('counts device types and locales, unknown included', () => {
    const logins = [
      login({ device_type: 'ios', locale: 'WA' }),
      login({ device_type: 'android', locale: 'CA' }),
      login({ device_type: 'android', locale: 'WA' }),
      login({ device_type: 'unknown', locale: 'unknown' }),
      login({ device_type: 'ios', locale: 'WA' }),
    ];
    const [d] = deltasOf(logins).deltas;
    assert.deepStrictEqual(d!.deviceTypes, [['android', 2], ['ios', 2], ['unknown', 1]]);
    assert.deepStrictEqual(d!.locales, [['CA', 1], ['WA', 3], ['unknown', 1]]);
  });

  it('counts late logins (bucket older than the retention) and leaves them out', () => {
    const logins = [
      login({ user_id: 'kept-edge', timestamp: OLDEST_KEPT }),
      login({ user_id: 'late-edge', timestamp: OLDEST_KEPT - 1 }),
      login({ user_id: 'late-old', timestamp: 946_684_800 }),
      login({ user_id: 'now', timestamp: NOW_S }),
    ];
    const { deltas, late } = deltasOf(logins);
    assert.equal(late, 2);
    assert.deepStrictEqual(deltas.map((d) => [d.bucket, d.users]), [[OLDEST_KEPT, ['kept-edge']], [B, ['now']]]);
  });

  it('measures lateness from nowMs', () => {
    const one = [login({ timestamp: OLDEST_KEPT })];
    assert.equal(aggregateLogins(one, SETTINGS, NOW_MS).late, 0);
    assert.equal(aggregateLogins(one, SETTINGS, NOW_MS + 60_000).late, 1);
  });

  it('a batch of late logins only gives no delta', () => {
    assert.deepStrictEqual(aggregateLogins([login({ timestamp: OLDEST_KEPT - 60 }), login({ timestamp: 1_000_000_000 })], SETTINGS, NOW_MS), { deltas: [], late: 2 });
  });

  it('counts a device type or locale named "__proto__" like any other, without polluting prototypes', () => {
    const logins = [
      login({ device_type: '__proto__', locale: '__proto__' }),
      login({ device_type: '__proto__', locale: 'constructor' }),
      login({ device_type: 'constructor', locale: 'hasOwnProperty' }),
      login({ device_type: 'toString', locale: '__proto__' }),
    ];
    const raw = aggregateLogins(logins, SETTINGS, NOW_MS).deltas[0]!;
    assert.equal(raw.deviceTypes['__proto__'], 2);
    assert.equal(raw.deviceTypes['constructor'], 1);
    assert.equal(raw.deviceTypes['toString'], 1);
    assert.deepStrictEqual(Object.keys(raw.deviceTypes).sort(), ['__proto__', 'constructor', 'toString']);
    assert.deepStrictEqual(Object.entries(raw.locales).sort(), [['__proto__', 2], ['constructor', 1], ['hasOwnProperty', 1]]);
    assert.equal(Object.hasOwn(Object.prototype, '2'), false);
    assert.equal(({} as Record<string, unknown>).constructor, Object);
    assert.equal(typeof ({} as Record<string, unknown>).toString, 'function');
    // The counts survive JSON (what the activity sends to Redis).
    assert.deepStrictEqual(Object.entries(JSON.parse(JSON.stringify(raw.deviceTypes)) as object).sort(), [['__proto__', 2], ['constructor', 1], ['toString', 1]]);
  });

  it(`counts categories over ${MAX_CATEGORY_CHARS} characters under OVERLONG_CATEGORY`, () => {
    const at64 = 'd'.repeat(MAX_CATEGORY_CHARS);
    const logins = [
      login({ device_type: at64, locale: 'l'.repeat(MAX_CATEGORY_CHARS + 1) }),
      login({ device_type: `${at64}x`, locale: 'WA' }),
      login({ device_type: 'y'.repeat(10_000), locale: 'm'.repeat(900_000) }),
    ];
    const [d] = deltasOf(logins).deltas;
    assert.equal(MAX_CATEGORY_CHARS, 64);
    assert.deepStrictEqual(d!.deviceTypes, [[OVERLONG_CATEGORY, 2], [at64, 1]]);
    assert.deepStrictEqual(d!.locales, [[OVERLONG_CATEGORY, 2], ['WA', 1]]);
  });

  it('conserves logins: kept + late = input, per-bucket counts sum to logins', () => {
    const loginArb = fc
      .record({
        user: fc.constantFrom('u1', 'u2', 'u3', 'u4'),
        device: fc.option(fc.constantFrom('d1', 'd2', 'd3'), { nil: null }),
        version: fc.constantFrom('2.3.0', '3.1', '7'),
        type: fc.constantFrom('ios', 'android', 'unknown', '__proto__', 'x'.repeat(65)),
        locale: fc.constantFrom('WA', 'CA', 'unknown', 'constructor'),
        timestamp: fc.integer({ min: NOW_S - 7200, max: NOW_S + 86_400 }),
      })
      .map((r) => login({ user_id: r.user, device_id: r.device, app_version: r.version, device_type: r.type, locale: r.locale, timestamp: r.timestamp }));
    fc.assert(
      fc.property(fc.array(loginArb, { maxLength: 60 }), (logins) => {
        const { deltas, late } = aggregateLogins(logins, SETTINGS, NOW_MS);
        assert.equal(deltas.reduce((n, d) => n + d.logins, 0) + late, logins.length);
        assert.equal(late, logins.filter((l) => bucketOf(l.timestamp, 60) < OLDEST_KEPT).length);
        assert.equal(new Set(deltas.map((d) => `${d.appVersion}\n${d.bucket}`)).size, deltas.length);
        for (const d of deltas) {
          assert.equal(d.bucket % 60, 0);
          assert.ok(d.bucket >= OLDEST_KEPT);
          const mine = logins.filter((l) => l.app_version === d.appVersion && bucketOf(l.timestamp, 60) === d.bucket);
          assert.equal(d.logins, mine.length);
          assert.equal(Object.values(d.deviceTypes).reduce((a, b) => a + b, 0), d.logins);
          assert.equal(Object.values(d.locales).reduce((a, b) => a + b, 0), d.logins);
          assert.deepStrictEqual([...d.users].sort(), [...new Set(mine.map((l) => l.user_id))].sort());
          assert.deepStrictEqual([...d.devices].sort(), [...new Set(mine.flatMap((l) => (l.device_id === null ? [] : [l.device_id])))].sort());
        }
      }),
      { numRuns: 200 },
    );
  });
});
