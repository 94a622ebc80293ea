/**
 * The dashboard on the real stack: Redis seeded through InsightsStore.applyBatch with a known set
 * of logins and dead letters, a consumer group with a known lag on the input topic, the
 * dashboard as a child process on a free port, and the page in a real Chromium: every number it
 * shows equals what Redis and Kafka say, and it follows a new batch and a recorded reconcile
 * without a reload. Then the
 * dashboard with Kafka, Redis, Temporal or the bridge unreachable (it reports, it does not
 * crash) and a graceful stop. (The breaker open and replays listed: test/integration/breaker.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import type { Browser, Page } from 'playwright-core';
import { createRedis, type RedisClient } from '../../src/clients/redis';
import { deleteKeys, hyperLogLogEstimate } from '../helpers/redis';
import type { Config } from '../../src/config';
import { aggregateLogins } from '../../src/domain/aggregates';
import { MAX_RECORDED_DIFFERENCES, type Comparison } from '../../src/domain/reconcile';
import type { ProcessedLogin } from '../../src/domain/types';
import type { Overview } from '../../src/dashboard/overview';
import { freePort } from '../../src/http';
import { createInsightsStore, type InsightsStore } from '../../src/insights/store';
import { testEnv } from '../helpers/env';
import { createTopics, produce, testKafka } from '../helpers/kafka';
import { ChildService, LOG_DIR, stopAll } from '../helpers/processes';
import { launchChromium } from '../helpers/browser';
import { waitFor } from '../helpers/wait';

const SCREENSHOT = join(LOG_DIR, 'dashboard.png');

/** Known logins: `count` of them, over the given versions, device types and locales, by `users` users. */
function knownLogins(
  count: number,
  options: { versions: string[]; deviceTypes: string[]; locales: string[]; users: number; batchId: string },
): ProcessedLogin[] {
  const nowS = Math.floor(Date.now() / 1000);
  const users = Array.from({ length: options.users }, () => randomUUID());
  return Array.from({ length: count }, (_, i) => {
    // Within the last 46 s: inside the summary window for several minutes after seeding.
    const timestamp = nowS - 1 - (i % 45);
    return {
      type: 'login',
      user_id: users[i % users.length]!,
      app_version: options.versions[i % options.versions.length]!,
      device_type: options.deviceTypes[Math.floor(i / 3) % options.deviceTypes.length]!,
      locale: options.locales[(i * 3 + (i >> 2)) % options.locales.length]!,
      ip: '10.1.2.3',
      device_id: randomUUID(),
      timestamp,
      login_at: new Date(timestamp * 1000).toISOString(),
      missing_fields: [],
      source: { topic: 'seed', partition: 0, offset: String(i) },
      batch_id: options.batchId,
      processed_at: new Date().toISOString(),
    };
  });
}

function countBy(logins: ProcessedLogin[], key: (l: ProcessedLogin) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const l of logins) counts[key(l)] = (counts[key(l)] ?? 0) + 1;
  return counts;
}

function plus(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
  return out;
}

/** As it comes out of JSON (the store builds prototype-less records). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** As the page shows a number. */
function shown(n: number): string {
  return new Intl.NumberFormat('en-US').format(n);
}

/** What Kafka says the group's lag is, computed here independently of the dashboard. */
async function kafkaLag(admin: Admin, topic: string, groupId: string): Promise<Record<number, number>> {
  const ends = await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const lag: Record<number, number> = {};
  for (const { partition, high } of ends) {
    const offset = Number(committed?.partitions.find((p) => p.partition === partition)?.offset ?? -1);
    lag[partition] = Number(high) - (offset >= 0 ? offset : 0);
  }
  return lag;
}

/** Everything the page says, by data-testid (the chart lines by their attributes). */
async function pageNumbers(page: Page): Promise<Record<string, string>> {
  return page.evaluate(`Object.fromEntries(Array.from(document.querySelectorAll('[data-testid]'))
    .filter((e) => e.tagName !== 'polyline').map((e) => [e.getAttribute('data-testid'), e.textContent]))`);
}

async function chartLines(page: Page): Promise<Record<string, { total: number; points: number; color: string }>> {
  return page.evaluate(`Object.fromEntries(Array.from(document.querySelectorAll('#chart polyline')).map((p) => [
    p.getAttribute('data-testid'),
    { total: Number(p.getAttribute('data-total')), points: p.getAttribute('points').trim().split(' ').length, color: p.getAttribute('stroke') },
  ]))`);
}

/** The numbers only (not the error lines, links or status). */
function pick(all: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(all).filter(([k]) => NUMBER_IDS.test(k)));
}

const NUMBER_IDS = /^(total-logins|unique-users|app-version-logins-.+|device-type-.+|locale-.+|dead-letters-.+|lag-(\d+|total))$/;

function links(config: Config) {
  const base = `${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}`;
  const topic = `BatchTopic="${config.kafka.inputTopic}"`;
  return {
    workflows: `${base}/workflows?query=${encodeURIComponent(topic)}`,
    dead_letter_batches: `${base}/workflows?query=${encodeURIComponent(`${topic} AND DeadLetterCount > 0`)}`,
    insights_workflow: `${base}/workflows/${encodeURIComponent(config.temporal.insightsWorkflowId)}`,
    replays: `${base}/workflows?query=${encodeURIComponent(`WorkflowType="replayDeadLetters" AND BatchTopic="${config.kafka.dlqTopic}"`)}`,
  };
}

function dashboardUrl(service: ChildService): string {
  const match = /Dashboard at (http:\/\/[^\s"\\]+)/.exec(service.logText());
  assert.ok(match, `no "Dashboard at http://…" line in\n${service.tail()}`);
  return match[1]!;
}

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

describe('dashboard', function () {
  const t = testEnv('dashboard', { DASHBOARD_PORT: '0' });
  const { inputTopic, groupId } = t.config.kafka;
  let kafka: Kafka;
  let admin: Admin;
  let redis: RedisClient;
  let store: InsightsStore;
  let browser: Browser | undefined;
  const services: ChildService[] = [];
  let dashboard: ChildService;
  let url: string;

  /** The page's expected numbers, from InsightsStore's own reads and Kafka, now. */
  async function expected(): Promise<Record<string, string>> {
    const now = Date.now();
    const summary = await store.readWindowEndingAt(now, t.config.summary.windowSeconds);
    const series = await store.readSeries(now - 3_600_000, now);
    const out: Record<string, string> = {
      'total-logins': shown(summary.totals.logins),
      'unique-users': shown(summary.totals.unique_users),
    };
    let deviceTypes: Record<string, number> = {};
    let locales: Record<string, number> = {};
    for (const [version, stats] of Object.entries(summary.app_versions)) {
      out[`app-version-logins-${version}`] = shown(stats.logins);
      deviceTypes = plus(deviceTypes, stats.device_types);
      locales = plus(locales, stats.locales);
    }
    for (const [k, n] of Object.entries(deviceTypes)) out[`device-type-${k}`] = shown(n);
    for (const [k, n] of Object.entries(locales)) out[`locale-${k}`] = shown(n);
    let deadLetters = 0;
    for (const [reason, counts] of Object.entries(series.dead_letters_by_reason)) {
      const total = counts.reduce((a, b) => a + b, 0);
      out[`dead-letters-${reason}`] = shown(total);
      deadLetters += total;
    }
    out['dead-letters-total'] = shown(deadLetters);
    const lag = await kafkaLag(admin, inputTopic, groupId);
    let lagTotal = 0;
    for (const [partition, n] of Object.entries(lag)) {
      out[`lag-${partition}`] = shown(n);
      lagTotal += n;
    }
    out['lag-total'] = shown(lagTotal);
    return out;
  }

  // Batch 1: three versions, three device types, four locales, dead letters of two reasons. Made
  // when the tests begin, not when mocha loads the file: its timestamps must fall in the summary window.
  const makeBatch1 = () =>
    knownLogins(240, {
      versions: ['2.3.0', '3.1', '2.4.0-beta.1'],
      deviceTypes: ['ios', 'android', 'unknown'],
      locales: ['WA', 'CA', 'NY', 'unknown'],
      users: 150,
      batchId: 'batch-1',
    });
  let batch1: ProcessedLogin[] = [];
  const deadLetters1 = { invalid_json: 3, missing_field: 2 };

  before(async function () {
    redis = createRedis(t.config.redis);
    store = createInsightsStore(redis, t.config);
    batch1 = makeBatch1();
    const now = Date.now();
    assert.ok((await store.applyBatch('batch-1', aggregateLogins(batch1, t.config.aggregates, now), now, deadLetters1)) > 0);

    // Partition 0: 7 records, the group committed offset 2 (lag 5). Partition 1: 3 records, no commit (lag 3).
    kafka = testKafka(t.config);
    await createTopics(kafka, [inputTopic], 2);
    await produce(kafka, inputTopic, [
      ...Array.from({ length: 7 }, (_, i) => ({ partition: 0, key: `k${i}`, value: `{"n":${i}}` })),
      ...Array.from({ length: 3 }, (_, i) => ({ partition: 1, key: `k${i}`, value: `{"n":${i}}` })),
    ]);
    admin = kafka.admin();
    await admin.connect();
    await admin.setOffsets({ groupId, topic: inputTopic, partitions: [{ partition: 0, offset: '2' }] });

    dashboard = new ChildService('dashboard', t.env, `${t.id}-dashboard`);
    services.push(dashboard);
    await dashboard.start();
    url = dashboardUrl(dashboard);

    browser = await launchChromium();
  });

  after(async function () {
    await browser?.close().catch(() => undefined);
    await stopAll(services);
    await admin?.disconnect().catch(() => undefined);
    if (redis) {
      await deleteKeys(redis, t.config.redis.prefix);
      redis.disconnect();
    }
  });

  it('logs its address, and serves /healthz and an overview equal to what Redis and Kafka say', async function () {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(new URL(url).port, '3000');

    const health = await getJson<{ status: string }>(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });

    const { status, body } = await getJson<Overview>(`${url}/api/overview`);
    assert.equal(status, 200);
    const now = Date.now();
    const summary = await store.readWindowEndingAt(now, t.config.summary.windowSeconds);
    const series = await store.readSeries(now - 3_600_000, now);

    assert.equal(body.redis_error, null);
    assert.equal(body.lag_error, null);
    assert.deepEqual(body.summary?.totals, summary.totals);
    assert.deepEqual(body.summary?.app_versions, plain(summary.app_versions));
    assert.deepEqual(body.series?.buckets, series.buckets);
    assert.deepEqual(body.series?.logins_by_version, series.logins_by_version);
    assert.deepEqual(body.series?.dead_letters_by_reason, series.dead_letters_by_reason);
    // An hour of minute buckets, the current one included (60 only when "now" falls exactly on a minute).
    assert.ok([60, 61].includes(body.series?.buckets.length ?? 0), `${body.series?.buckets.length} buckets`);
    assert.ok(body.series!.buckets[0]! * 1000 <= now - 3_600_000 + 60_000 && body.series!.buckets.at(-1)! * 1000 > now - 60_000);

    // Against the known input, too: exact counts; unique users exactly what a HyperLogLog of the
    // same users estimates (the users are new each run, and so is the estimate's error).
    assert.equal(summary.totals.logins, 240);
    const users = [...new Set(batch1.map((l) => l.user_id))];
    assert.equal(users.length, 150);
    assert.equal(summary.totals.unique_users, await hyperLogLogEstimate(redis, `${t.config.redis.prefix}test:reference-users`, users));
    assert.deepEqual({ ...body.device_types }, countBy(batch1, (l) => l.device_type));
    assert.deepEqual({ ...body.locales }, countBy(batch1, (l) => l.locale));
    assert.deepEqual(body.dead_letters, { by_reason: deadLetters1, total: 5 });
    assert.equal(body.last_reconcile, null, 'no reconcile recorded yet');

    assert.deepEqual(body.lag, {
      topic: inputTopic,
      group_id: groupId,
      partitions: [
        { partition: 0, high_watermark: '7', committed_offset: '2', lag: 5 },
        { partition: 1, high_watermark: '3', committed_offset: null, lag: 3 },
      ],
      total: 8,
    });
    assert.deepEqual(await kafkaLag(admin, inputTopic, groupId), { 0: 5, 1: 3 });

    const expectedLinks = links(t.config);
    assert.equal(body.temporal.workflows, expectedLinks.workflows);
    assert.equal(body.temporal.dead_letter_batches, expectedLinks.dead_letter_batches);
    assert.equal(body.temporal.insights_workflow, expectedLinks.insights_workflow);
    assert.equal(body.temporal.replays, expectedLinks.replays);
    // No replay of this test's DLQ yet; the bridge's address is unknown (tests pick ports at start).
    assert.deepEqual(body.replays, []);
    assert.equal(body.replays_error, null);
    assert.equal(body.breaker, null);
    assert.equal(body.breaker_error, 'Bridge: its address is not known (BRIDGE_HTTP_PORT is 0); set DASHBOARD_BRIDGE_URL');
    assert.equal(
      body.temporal.workflows,
      `http://127.0.0.1:8233/namespaces/default/workflows?query=BatchTopic%3D%22${inputTopic}%22`,
    );

    const missing = await fetch(`${url}/nope`);
    assert.equal(missing.status, 404);
  });

  it('shows the numbers in Chromium and follows a new batch without a reload', async function () {
    const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    let navigations = 0;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations++;
    });
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));

    const response = await page.goto(url);
    assert.equal(response?.status(), 200);
    assert.match(response!.headers()['content-security-policy'] ?? '', /default-src 'none'/);
    await waitFor(async () => Number(await page.getAttribute('body', 'data-updates')) >= 1, {
      timeoutMs: 15_000,
      message: 'the page to render its first overview',
    });

    let want = await expected();
    let got = await pageNumbers(page);
    assert.deepEqual(pick(got), want);
    assert.equal(got['total-logins'], '240');
    assert.equal(got['lag-0'], '5');
    assert.equal(got['lag-1'], '3');
    assert.equal(got['dead-letters-invalid_json'], '3');
    assert.equal(got['redis-error'], '');
    assert.equal(got['lag-error'], '');
    assert.equal(got['reconcile-status'], 'never run');
    assert.equal(got['reconcile-differences'], '—');
    assert.equal(got['breaker-status'], 'unknown');
    assert.equal(got['breaker-error'], 'Bridge: its address is not known (BRIDGE_HTTP_PORT is 0); set DASHBOARD_BRIDGE_URL');
    assert.equal(await page.locator('#replay-rows').textContent(), 'no replays yet');
    assert.equal(await page.getByTestId('link-replays').getAttribute('href'), links(t.config).replays);

    // The chart: one line per app version, one point per minute of the hour, its sum the series'.
    const series = await store.readSeries(Date.now() - 3_600_000, Date.now());
    const lines = await chartLines(page);
    assert.deepEqual(
      Object.fromEntries(Object.entries(lines).map(([id, l]) => [id, { total: l.total, points: l.points }])),
      Object.fromEntries(
        Object.entries(series.logins_by_version).map(([v, counts]) => [`series-${v}`, { total: counts.reduce((a, b) => a + b, 0), points: series.buckets.length }]),
      ),
    );
    assert.equal(new Set(Object.values(lines).map((l) => l.color)).size, 3, 'each version its own colour');
    const legend = await page.getByTestId('legend').locator('li').allTextContents();
    assert.deepEqual(legend.map((s) => s.split(' ')[0]).sort(), ['2.3.0', '2.4.0-beta.1', '3.1']);
    const axisText = (await page.locator('#chart text').allTextContents()).join(' | ');
    assert.match(axisText, /logins per minute/);
    assert.match(axisText, /\b\d\d:\d0\b/, 'time labels on the x axis');

    const expectedLinks = links(t.config);
    assert.equal(await page.getByTestId('link-workflows').getAttribute('href'), expectedLinks.workflows);
    assert.equal(await page.getByTestId('link-dead-letter-batches').getAttribute('href'), expectedLinks.dead_letter_batches);
    assert.equal(await page.getByTestId('link-insights').getAttribute('href'), expectedLinks.insights_workflow);

    // One more batch (a new version, device type and locale, a new dead-letter reason) and more
    // input on partition 0: the open page must follow, without reloading.
    await page.evaluate('window.__sameDocument = "yes"');
    const navigationsBefore = navigations;
    const updatesBefore = Number(await page.getAttribute('body', 'data-updates'));
    const batch2 = knownLogins(60, { versions: ['4.0.0', '2.3.0'], deviceTypes: ['web', 'ios'], locales: ['OR', 'WA'], users: 40, batchId: 'batch-2' });
    const now = Date.now();
    assert.ok((await store.applyBatch('batch-2', aggregateLogins(batch2, t.config.aggregates, now), now, { invalid_field: 4, invalid_json: 1 })) > 0);
    await produce(kafka, inputTopic, Array.from({ length: 4 }, (_, i) => ({ partition: 0, key: `m${i}`, value: `{"m":${i}}` })));

    let showing: string | null = null;
    await waitFor(async () => (showing = await page.getByTestId('total-logins').textContent()) === '300', {
      timeoutMs: 15_000,
      message: () => `the page to show 300 logins (shows ${showing})`,
    });
    // Kafka's lag may show one poll later than Redis's counts.
    await waitFor(async () => (await page.getByTestId('lag-0').textContent()) === '9', { timeoutMs: 15_000, message: 'lag 9 on partition 0' });

    want = await expected();
    got = await pageNumbers(page);
    assert.deepEqual(pick(got), want);
    assert.equal(got['device-type-web'], shown(countBy(batch2, (l) => l.device_type).web!));
    assert.equal(got['locale-OR'], shown(countBy(batch2, (l) => l.locale).OR!));
    assert.equal(got['dead-letters-invalid_field'], '4');
    assert.equal(got['dead-letters-invalid_json'], '4');
    assert.equal(got['dead-letters-total'], '10');
    assert.equal(got['lag-total'], '12');
    assert.ok('series-4.0.0' in (await chartLines(page)), 'a line for the new version');

    // A reconcile recorded (as `npm run reconcile` records it): red, with more differences than it keeps.
    const differences: Comparison[] = Array.from({ length: 7 }, (_, i) => ({
      app_version: i === 6 ? null : '2.3.0',
      field: `locales.L${i}`,
      kind: 'exact',
      topic: 10 + i,
      redis: 1_000 + i,
      difference: 990,
      bound: 0,
    }));
    const checkedAt = new Date().toISOString();
    await store.recordReconcile({
      checked_at: checkedAt,
      window: { start: '2026-01-02T03:00:00.000Z', end: '2026-01-02T04:00:00.000Z', seconds: 3600 },
      app_version: '2.3.0',
      green: false,
      compared: 1_234,
      differences: differences.length,
      logins: 4_321,
      top_differences: differences.slice(0, MAX_RECORDED_DIFFERENCES),
    });
    await waitFor(async () => (await page.getByTestId('reconcile-status').textContent()) === 'red', { timeoutMs: 15_000, message: 'the page to show the recorded reconcile' });
    assert.equal(await page.getByTestId('reconcile-differences').textContent(), '7');
    assert.equal(await page.getByTestId('reconcile-compared').textContent(), '1,234');
    assert.equal(await page.getByTestId('reconcile-window').textContent(), 'window 2026-01-02T03:00:00.000Z → 2026-01-02T04:00:00.000Z (event time, app version 2.3.0)');
    assert.match((await page.getByTestId('reconcile-checked-at').textContent()) ?? '', new RegExp(`^checked ${checkedAt.replace(/\./g, '\\.')} \\(\\d+ s ago\\), 4,321 logins on the topic$`));
    assert.deepEqual(await page.getByTestId('reconcile-difference-0').locator('td').allTextContents(), ['2.3.0', 'locales.L0', '10', '1,000']);
    assert.equal(await page.locator('[data-testid^="reconcile-difference-"]').count(), MAX_RECORDED_DIFFERENCES);
    assert.match((await page.locator('#reconcile-rows').textContent()) ?? '', /and 2 more \(npm run reconcile -- … --json lists them\)/);

    assert.equal(await page.evaluate('window.__sameDocument'), 'yes', 'the page was reloaded');
    assert.equal(navigations, navigationsBefore, 'the page navigated');
    assert.ok(Number(await page.getAttribute('body', 'data-updates')) > updatesBefore);
    assert.ok(
      requests.every((r) => r.startsWith(`${url}/`)),
      `the page fetched something other than its own origin: ${requests.filter((r) => !r.startsWith(`${url}/`)).join(', ')}`,
    );
    assert.deepEqual(problems, []);

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  });

  it('reports Kafka, Redis, Temporal or the bridge unreachable instead of failing, and shows it on the page', async function () {
    const noKafka = new ChildService(
      'dashboard',
      { ...t.env, KAFKA_BROKERS: `127.0.0.1:${await freePort()}`, DASHBOARD_BRIDGE_URL: `http://127.0.0.1:${await freePort()}` },
      `${t.id}-dashboard-no-kafka`,
    );
    const noRedis = new ChildService(
      'dashboard',
      { ...t.env, REDIS_URL: `redis://127.0.0.1:${await freePort()}`, TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` },
      `${t.id}-dashboard-no-redis`,
    );
    services.push(noKafka, noRedis);
    await Promise.all([noKafka.start(), noRedis.start()]);

    // "Dashboard at" is logged before its Redis client has connected: the first poll may find it still connecting.
    const withoutKafka = await waitFor(
      async () => {
        const answer = await getJson<Overview>(`${dashboardUrl(noKafka)}/api/overview`);
        return answer.body.redis_error === null ? answer : undefined;
      },
      { timeoutMs: 15_000, message: 'the dashboard without Kafka to read Redis' },
    );
    assert.equal(withoutKafka.status, 200);
    assert.equal(withoutKafka.body.lag, null);
    assert.match(withoutKafka.body.lag_error ?? '', /^Kafka: ./);
    assert.equal(withoutKafka.body.redis_error, null);
    assert.equal(withoutKafka.body.summary?.totals.logins, 300);
    assert.equal(withoutKafka.body.breaker, null);
    assert.match(withoutKafka.body.breaker_error ?? '', /^Bridge: ./);
    assert.deepEqual(withoutKafka.body.replays, []);

    const withoutRedis = await getJson<Overview>(`${dashboardUrl(noRedis)}/api/overview`);
    assert.equal(withoutRedis.status, 200);
    assert.equal(withoutRedis.body.summary, null);
    assert.equal(withoutRedis.body.series, null);
    assert.match(withoutRedis.body.redis_error ?? '', /^Redis: ./);
    assert.equal(withoutRedis.body.last_reconcile, null);
    assert.equal(withoutRedis.body.lag?.total, 12);
    assert.equal(withoutRedis.body.replays, null);
    assert.match(withoutRedis.body.replays_error ?? '', /^Temporal: ./);

    const page = await browser!.newPage();
    await page.goto(dashboardUrl(noKafka));
    await waitFor(async () => ((await page.getByTestId('lag-error').textContent()) ?? '').startsWith('Kafka: '), {
      timeoutMs: 15_000,
      message: 'the page to show the Kafka error',
    });
    assert.equal(await page.getByTestId('lag-total').textContent(), '—');
    assert.equal(await page.getByTestId('total-logins').textContent(), '300');
    assert.equal(await page.getByTestId('reconcile-status').textContent(), 'red', 'the last reconcile, from Redis');
    assert.equal(await page.getByTestId('breaker-status').textContent(), 'unknown');
    assert.match((await page.getByTestId('breaker-error').textContent()) ?? '', /^Bridge: ./);
    await page.goto(dashboardUrl(noRedis));
    await waitFor(async () => (await page.getByTestId('reconcile-status').textContent()) === 'unavailable', {
      timeoutMs: 15_000,
      message: 'the page to say the last reconcile is unavailable without Redis',
    });
    assert.equal(await page.locator('#replay-rows').textContent(), 'unavailable');
    assert.match((await page.getByTestId('replays-error').textContent()) ?? '', /^Temporal: ./);
    await page.close();

    // Still alive after a few polls' worth of failures.
    assert.equal((await fetch(`${dashboardUrl(noKafka)}/healthz`)).status, 200);
    assert.equal((await fetch(`${dashboardUrl(noRedis)}/healthz`)).status, 200);
    assert.ok(noKafka.running && noRedis.running);
  });

  it('stops gracefully on SIGTERM while a page is polling', async function () {
    const page = await browser!.newPage();
    await page.goto(url);
    await waitFor(async () => Number(await page.getAttribute('body', 'data-updates')) >= 2, { timeoutMs: 15_000, message: 'two polls' });
    const started = Date.now();
    assert.equal(await dashboard.stop('SIGTERM', 10_000), 0);
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms to stop`);
    assert.match(dashboard.logText(), /Dashboard stopped/);
    await waitFor(async () => /Not updating/.test((await page.getByTestId('status').textContent()) ?? ''), {
      timeoutMs: 15_000,
      message: 'the page to say it is not updating',
    });
    await page.close();
  });
});
