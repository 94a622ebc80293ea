/**
 * `npm run reconcile` on a real pipeline run: green when Redis holds what OUTPUT_TOPIC says,
 * also with a login repeated under the same source; red, naming the app version and the field,
 * when a test corrupts one Redis counter up or down, the totals' own counter, or a HyperLogLog
 * beyond its bound; exit 2 with one sentence when it cannot check. The dashboard shows the last
 * result, checked in Chromium.
 */
import { deleteKeys } from '../helpers/redis';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Message } from 'kafkajs';
import type { Browser, Page } from 'playwright-core';
import type { Overview } from '../../src/dashboard/overview';
import { bucketOf } from '../../src/domain/aggregates';
import type { Comparison } from '../../src/domain/reconcile';
import { InsightsKeys } from '../../src/insights/keys';
import { launchChromium } from '../helpers/browser';
import { lastJson, runCommand, type CommandResult } from '../helpers/command';
import { produce } from '../helpers/kafka';
import { PipelineHarness } from '../helpers/pipeline';
import { ChildService, LOG_DIR } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

interface Result {
  green: boolean;
  compared: number;
  window: { start: string; end: string; seconds: number };
  app_version: string | null;
  topic: { logins_in_window: number; duplicates: number; late: number; unreadable: number; records_read: number };
  redis: { logins: number };
  differences: Comparison[];
  estimates: Comparison[];
}

const VERSIONS = ['2.3.0', '3.1', '4.0.0-beta.1'];
const DEVICE_TYPES = ['iOS', 'android', undefined];
const LOCALES = ['WA', 'ca', 'NY', undefined];
const PER_VERSION = 300;

describe('reconcile: npm run reconcile', function () {
  const harness = new PipelineHarness('reconcile', { BATCH_MAX_RECORDS: '100' }, 2);
  let env: Record<string, string | undefined>;
  let keys: InsightsKeys;
  let nowS: number;
  let window: string[];
  let windowStartS: number;
  let windowEndS: number;
  let inWindow: { version: string; timestamp: number; locale: string }[];
  let browser: Browser | undefined;
  let dashboard: ChildService | undefined;
  let page: Page | undefined;

  const reconcile = (...extra: string[]) => runCommand('reconcile', [...window, ...extra], env);
  const json = async (...extra: string[]): Promise<{ run: CommandResult; result: Result }> => {
    const run = await reconcile('--json', ...extra);
    return { run, result: lastJson<Result>(run) };
  };
  /** One version's stats hash in the bucket of one of its logins (src/insights/keys.ts). */
  const statsKey = (version: string) => {
    const login = inWindow.find((l) => l.version === version)!;
    return keys.bucket(keys.versionTag(version), bucketOf(login.timestamp, harness.config.aggregates.bucketSeconds)).stats;
  };

  before(async function () {
    await harness.setup();
    env = harness.t.env;
    keys = new InsightsKeys(harness.config.redis.prefix, harness.config.aggregates);
    await harness.startAll();
    nowS = Math.floor(Date.now() / 1000);
    // The window closed a minute ago; its logins are 2 to 7 minutes old.
    windowStartS = bucketOf(nowS - 600, 60);
    windowEndS = Math.ceil((nowS - 60) / 60) * 60;
    window = ['--since', String(nowS - 600), '--until', new Date((nowS - 60) * 1000).toISOString()];
    inWindow = [];
    const messages: Message[] = [];
    VERSIONS.forEach((version, v) => {
      const users = Array.from({ length: 150 }, () => randomUUID());
      const devices = Array.from({ length: 200 }, () => randomUUID());
      for (let i = 0; i < PER_VERSION; i++) {
        const timestamp = nowS - 120 - ((i * 7 + v) % 280);
        const locale = LOCALES[(i + v) % LOCALES.length];
        inWindow.push({ version, timestamp, locale: locale?.toUpperCase() ?? 'unknown' });
        const record = { user_id: users[i % users.length], device_id: devices[(i * 3) % devices.length], app_version: version, device_type: DEVICE_TYPES[i % 3], locale, timestamp };
        messages.push({ key: randomUUID(), value: JSON.stringify(record) });
      }
    });
    // Valid logins outside the window (half an hour ago, an hour ahead) and bad records: none counted.
    for (const timestamp of [nowS - 1800, nowS + 3600]) {
      for (let i = 0; i < 5; i++) messages.push({ key: randomUUID(), value: JSON.stringify({ user_id: `out-${i}`, app_version: '2.3.0', timestamp }) });
    }
    for (let i = 0; i < 10; i++) messages.push({ key: randomUUID(), value: i % 2 ? '{"broken' : JSON.stringify({ user_id: 'u', app_version: 'v2', timestamp: nowS }) });
    await harness.produce(messages);
    await harness.waitForAllAccounted();
    await harness.waitForRedisExact(60_000);
  });

  after(async function () {
    await page?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await dashboard?.stop('SIGKILL').catch(() => undefined);
    await deleteKeys(harness.redis(), harness.config.redis.prefix);
    await harness.close();
  });

  it('is green after a real pipeline run: every value of the window as the topic says, exit 0', async function () {
    const { run, result } = await json();
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.equal(result.green, true);
    assert.deepEqual(result.differences, []);
    assert.deepEqual(result.window, { start: new Date(windowStartS * 1000).toISOString(), end: new Date(windowEndS * 1000).toISOString(), seconds: windowEndS - windowStartS });
    assert.equal(result.topic.logins_in_window, VERSIONS.length * PER_VERSION);
    assert.equal(result.topic.duplicates, 0);
    assert.equal(result.topic.unreadable, 0);
    assert.equal(result.redis.logins, VERSIONS.length * PER_VERSION);
    // Per version: logins, unique users and devices, 3 device types, 4 locales; the totals' three.
    assert.equal(result.compared, VERSIONS.length * (1 + 2 + 3 + 4) + 3);
    assert.equal(result.estimates.length, VERSIONS.length * 2 + 1);
    for (const e of result.estimates) assert.ok(Math.abs(e.difference) <= e.bound, `${e.app_version} ${e.field}: ${e.redis} vs ${e.topic}`);
    assert.equal(run.stderr, '', 'a closed window: no notes');

    const text = await reconcile();
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^Reconcile of \S+ to \S+ \(\d+ s, event time\), all app versions\n/);
    assert.match(text.stdout, new RegExp(`\\n${harness.config.kafka.outputTopic}: 900 distinct logins in the window, from [\\d,]+ records read \\(0 repeated by source and dropped, 0 late and not aggregated\\); Redis: 900 logins\\.\\n`));
    assert.match(text.stdout, /\nCompared 33 values: GREEN, Redis matches the topic\.\n/);
    assert.match(text.stdout, /HyperLogLog estimates: a difference when more than 4 standard errors \(3\.24%\) off; the furthest was \d+\.\d\d% off\./);

    const last = await harness.store().readLastReconcile();
    assert.equal(last?.green, true);
    assert.equal(last?.differences, 0);
    assert.equal(last?.logins, 900);
  });

  it('counts a login repeated with the same source once, as Redis did', async function () {
    const login = harness.logins().find((m) => {
      const t = JSON.parse(m.value!.toString()).timestamp as number;
      return t >= windowStartS && t < windowEndS;
    })!;
    await produce(harness.kafka, harness.config.kafka.outputTopic, [{ key: login.key, value: login.value, headers: login.headers }]);
    const { run, result } = await json();
    assert.equal(run.code, 0, run.stdout);
    assert.equal(result.topic.duplicates, 1);
    assert.equal(result.topic.logins_in_window, 900);
  });

  it('is red, exit 1, naming the version and field, when one Redis counter is one too high; the dashboard shows it', async function () {
    const key = statsKey('3.1');
    await harness.redis().hincrby(key, 'logins', 1);
    let restored = false;
    try {
      const { run, result } = await json();
      assert.equal(run.code, 1, run.stdout);
      assert.equal(result.green, false);
      assert.deepEqual(
        result.differences.map(({ app_version, field, topic, redis, difference }) => ({ app_version, field, topic, redis, difference })),
        [
          { app_version: '3.1', field: 'logins', topic: PER_VERSION, redis: PER_VERSION + 1, difference: 1 },
          { app_version: null, field: 'logins', topic: 900, redis: 901, difference: 1 },
        ],
      );
      const text = await reconcile();
      assert.equal(text.code, 1);
      assert.match(text.stdout, /\nCompared 33 values: RED, 2 differences\.\n\nAPP VERSION +FIELD +TOPIC +REDIS +DIFFERENCE +CHECK\n3\.1 +logins +300 +301 +\+1 +exact\n\(all\) +logins +900 +901 +\+1 +exact\n/);
      const last = await harness.store().readLastReconcile();
      assert.equal(last?.green, false);
      assert.equal(last?.differences, 2);

      // The dashboard, in Chromium: red, two differences, the first one named.
      dashboard = new ChildService('dashboard', { ...env, DASHBOARD_PORT: '0' }, `${harness.t.id}-dashboard`);
      await dashboard.start();
      const url = /Dashboard at (http:\/\/[^\s"\\]+)/.exec(dashboard.logText())![1]!;
      // Its Redis connection may still be coming up when it first answers.
      const overview = await waitFor(
        async () => {
          const answer = (await (await fetch(`${url}/api/overview`)).json()) as Overview;
          return answer.redis_error === null ? answer : undefined;
        },
        { timeoutMs: 15_000, message: 'the dashboard to read Redis' },
      );
      assert.equal(overview.last_reconcile?.green, false);
      assert.equal(overview.last_reconcile?.top_differences[0]?.field, 'logins');
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(err.message));
      await page.goto(url);
      await waitFor(async () => (await page!.getByTestId('reconcile-status').textContent()) === 'red', { timeoutMs: 15_000, message: 'the page to show a red reconcile' });
      assert.equal(await page.getByTestId('reconcile-differences').textContent(), '2');
      assert.equal(await page.getByTestId('reconcile-compared').textContent(), '33');
      assert.deepEqual(await page.getByTestId('reconcile-difference-0').locator('td').allTextContents(), ['3.1', 'logins', '300', '301']);
      assert.deepEqual(await page.getByTestId('reconcile-difference-1').locator('td').allTextContents(), ['(all)', 'logins', '900', '901']);
      assert.match((await page.getByTestId('reconcile-window').textContent()) ?? '', new RegExp(`^window ${new Date(windowStartS * 1000).toISOString()} → ${new Date(windowEndS * 1000).toISOString()} \\(event time, all app versions\\)$`));
      assert.match((await page.getByTestId('reconcile-checked-at').textContent()) ?? '', new RegExp(`^checked ${last!.checked_at.replace(/\./g, '\\.')} \\(\\d+ s ago\\), 900 logins on the topic$`));
      assert.equal(await page.getByTestId('reconcile-status').getAttribute('class'), 'badge red');
      assert.deepEqual(problems, []);
      await page.screenshot({ path: join(LOG_DIR, 'dashboard-reconcile.png'), fullPage: true });

      // Put right, and checked again: green, and the open page follows.
      await harness.redis().hincrby(key, 'logins', -1);
      restored = true;
      assert.equal((await reconcile()).code, 0);
      await waitFor(async () => (await page!.getByTestId('reconcile-status').textContent()) === 'green', { timeoutMs: 15_000, message: 'the page to show the green reconcile' });
      assert.equal(await page.getByTestId('reconcile-differences').textContent(), '0');
      assert.equal(await page.getByTestId('reconcile-status').getAttribute('class'), 'badge green');
    } finally {
      if (!restored) await harness.redis().hincrby(key, 'logins', -1);
    }
  });

  it('is red when a count is lower than the topic says, also in the totals\' own counter; --app-version checks one version', async function () {
    const key = statsKey('2.3.0');
    const locale = inWindow.find((l) => l.version === '2.3.0')!.locale;
    await harness.redis().hincrby(key, `l:${locale}`, -2);
    try {
      const { run, result } = await json();
      assert.equal(run.code, 1);
      assert.equal(result.differences.length, 1);
      assert.deepEqual(
        { ...result.differences[0], topic: undefined, redis: undefined },
        { app_version: '2.3.0', field: `locales.${locale}`, kind: 'exact', difference: -2, bound: 0, topic: undefined, redis: undefined },
      );
      const other = await json('--app-version', '3.1');
      assert.equal(other.run.code, 0, 'another version is green');
      assert.equal(other.result.app_version, '3.1');
      assert.equal(other.result.compared, 1 + 2 + 3 + 4 + 2);
      assert.equal((await json('--app-version', '2.3.0')).run.code, 1);
    } finally {
      await harness.redis().hincrby(key, `l:${locale}`, 2);
    }

    const totalsKey = keys.bucket(keys.totalsTag, bucketOf(inWindow[0]!.timestamp, 60)).stats;
    await harness.redis().hincrby(totalsKey, 'logins', -1);
    try {
      const { run, result } = await json();
      assert.equal(run.code, 1);
      assert.deepEqual(
        result.differences.map((d) => [d.app_version, d.field, d.difference]),
        [[null, 'logins_counter', -1]],
        'only the counter of the {all} buckets differs',
      );
    } finally {
      await harness.redis().hincrby(totalsKey, 'logins', 1);
    }
    assert.equal((await reconcile()).code, 0);
  });

  it('is red when a HyperLogLog estimate is further off than its bound', async function () {
    const usersKey = statsKey('4.0.0-beta.1').replace(/:stats$/, ':users');
    const fake = Array.from({ length: 50 }, () => randomUUID());
    assert.equal(await harness.redis().pfadd(usersKey, ...fake), 1);
    const { run, result } = await json();
    assert.equal(run.code, 1);
    // Only the version's HyperLogLog was touched: the totals keep their own, which still agrees.
    assert.deepEqual(result.differences.map((d) => `${d.app_version}/${d.field}`), ['4.0.0-beta.1/unique_users']);
    const [version] = result.differences;
    assert.equal(version!.kind, 'estimate');
    assert.equal(version!.topic, 150);
    assert.equal(version!.bound, 4);
    assert.ok(version!.difference > 40, `${version!.difference}`);
    const totals = result.estimates.find((e) => e.app_version === null)!;
    assert.equal(totals.topic, 450);
    assert.equal(totals.bound, 14);
    const text = await reconcile();
    assert.match(text.stdout, /\n4\.0\.0-beta\.1 +unique_users +150 +\d+ +\+\d+ +estimate, allowed ±4\n/);
  });

  it('says in one sentence when it cannot check, with exit 2', async function () {
    const before = await harness.store().readLastReconcile();
    const kafkaDown = await runCommand('reconcile', window, { ...env, KAFKA_BROKERS: '127.0.0.1:1' });
    assert.equal(kafkaDown.code, 2);
    assert.match(kafkaDown.stderr.trim(), /^Could not connect to Kafka at 127\.0\.0\.1:1: .*ECONNREFUSED.*\.$/);
    const redisDown = await runCommand('reconcile', window, { ...env, REDIS_URL: 'redis://:secret@127.0.0.1:1' });
    assert.equal(redisDown.code, 2);
    assert.equal(redisDown.stderr.trim(), 'Could not read Redis at redis://[redacted]@127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1.');
    const noWindow = await runCommand('reconcile', ['--since', String(nowS - 600)], env);
    assert.equal(noWindow.code, 2);
    assert.match(noWindow.stderr, /^reconcile needs a window: --since T --until T/);
    const expired = await runCommand('reconcile', ['--since', String(nowS - 2 * 86_400), '--until', String(nowS - 86_400 - 3600)], env);
    assert.equal(expired.code, 2);
    assert.match(expired.stderr, /^The window starts before \S+, the oldest bucket Redis still keeps \(AGGREGATE_RETENTION_SECONDS=86400\)/);
    const noTopic = await runCommand('reconcile', window, { ...env, OUTPUT_TOPIC: `${harness.t.id}-missing` });
    assert.equal(noTopic.code, 2);
    assert.equal(noTopic.stderr.trim(), `Topic ${harness.t.id}-missing does not exist on this Kafka cluster.`);
    assert.deepEqual(await harness.store().readLastReconcile(), before, 'a check that could not be made is not recorded');
  });
});
