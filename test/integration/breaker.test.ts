/**
 * The circuit breaker on the real stack (DLQ_MAX_RATIO=0.5 over at least DLQ_MIN_RECORDS=60,
 * small batches): healthy records flow; a flood of invalid ones trips it, and the bridge stops
 * handing off, so the flood waits in Kafka. While paused, /readyz says `breaker: false`, GET
 * /breaker and lp_bridge_breaker_open say it is open, the log says in one sentence what tripped
 * and how to resume, and the dashboard (in Chromium) shows it, with the dead letters by reason
 * and the replays an operator runs meanwhile. `npm run bridge -- --resume` resumes: the backlog
 * goes through without tripping it again, and every record comes out exactly once. A second
 * flood trips it again; SIGUSR2 resumes it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Message } from 'kafkajs';
import type { Browser, Page } from 'playwright-core';
import type { BreakerState } from '../../src/bridge/breaker';
import type { Overview } from '../../src/dashboard/overview';
import type { ReplayResult } from '../../src/domain/replay';
import { formatAccounting } from '../helpers/accounting';
import { launchChromium } from '../helpers/browser';
import { lastJson, runCommand } from '../helpers/command';
import { PipelineHarness } from '../helpers/pipeline';
import { ChildService, LOG_DIR } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

function valid(n: number, tag: string): Message[] {
  const nowS = Math.floor(Date.now() / 1000);
  return Array.from({ length: n }, (_, i) => ({ key: `${tag}-ok-${i}`, value: JSON.stringify({ user_id: `u-${tag}-${i}`, app_version: '2.3.0', timestamp: nowS }) }));
}

/** Broken data: no app_version. */
function flood(n: number, tag: string): Message[] {
  const nowS = Math.floor(Date.now() / 1000);
  return Array.from({ length: n }, (_, i) => ({ key: `${tag}-bad-${i}`, value: JSON.stringify({ user_id: `u-${tag}-${i}`, timestamp: nowS }) }));
}

function metricValue(exposition: string, name: string): number {
  const line = exposition.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
}

describe('circuit breaker: a flood of invalid records pauses the input', function () {
  this.timeout(300_000);
  const harness = new PipelineHarness('breaker', { BATCH_MAX_RECORDS: '20', BRIDGE_MAX_IN_FLIGHT: '2', DLQ_MAX_RATIO: '0.5', DLQ_MIN_RECORDS: '60', DASHBOARD_PORT: '0' }, 2);
  let env: Record<string, string | undefined>;
  let bridgeUrl: string;
  let dashboard: ChildService;
  let browser: Browser | undefined;
  let page: Page;

  const get = async (path: string) => {
    const res = await fetch(`${bridgeUrl}${path}`);
    return { status: res.status, text: await res.text() };
  };
  const breaker = async () => JSON.parse((await get('/breaker')).text) as BreakerState;
  const metrics = async () => (await get('/metrics')).text;
  const pausedLines = () => harness.bridge.logText().split('\n').filter((l) => l.includes('The input is paused'));
  const testId = async (id: string) => (await page.getByTestId(id).textContent()) ?? '';

  before(async function () {
    await harness.setup();
    env = harness.t.env;
    await harness.startAll();
    const port = /"port":(\d+),"msg":"Serving \/metrics/.exec(harness.bridge.logText())?.[1];
    assert.ok(port, 'the bridge logs its ops port');
    bridgeUrl = `http://127.0.0.1:${port}`;
    dashboard = new ChildService('dashboard', { ...env, DASHBOARD_BRIDGE_URL: bridgeUrl }, `${harness.t.id}-dashboard`);
    harness.extra.push(dashboard);
    await dashboard.start();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
    const dashboardUrl = /Dashboard at (http:\/\/[^\s"\\]+)/.exec(dashboard.logText())![1]!;
    await page.goto(dashboardUrl);
  });
  after(async () => {
    await browser?.close().catch(() => undefined);
    await harness.close();
  });

  it('lets healthy records through, closed', async function () {
    await harness.produce(valid(100, 'healthy'));
    const accounting = await harness.waitForAllAccounted();
    assert.equal(accounting.logins, 100);
    const state = await breaker();
    assert.equal(state.enabled, true);
    assert.equal(state.open, false);
    assert.deepEqual(state.settings, { maxRatio: 0.5, minRecords: 60 });
    assert.equal(JSON.parse((await get('/readyz')).text).checks.breaker, true);
    await waitFor(async () => (await testId('breaker-status')) === 'closed', { timeoutMs: 15_000, message: 'the page to show the breaker closed' });
  });

  it('trips on a flood: the input pauses, /readyz, /breaker, the metric, the log and the dashboard say so; nothing is handed off', async function () {
    await harness.produce([...flood(400, 'f1'), ...valid(50, 'f1')]);
    await harness.bridge.waitForLog('The input is paused', 60_000);
    // The batches in flight when it tripped finish; then nothing more is cut.
    await waitFor(async () => metricValue(await metrics(), 'lp_bridge_in_flight_batches') === 0, { timeoutMs: 30_000, message: 'the batches in flight to finish' });
    const handedOff = metricValue(await metrics(), 'lp_bridge_records_total');
    // Their outputs become visible to read_committed readers a moment after each transaction
    // commits (Kafka writes the commit markers after answering): wait until all are out.
    const before = await waitFor(
      async () => {
        const accounting = await harness.accounting();
        return accounting.inputs - accounting.lost.length === handedOff ? accounting : undefined;
      },
      { timeoutMs: 30_000, message: `the ${handedOff} records handed off to come out` },
    );
    assert.ok(before.lost.length > 0, `records wait in Kafka: ${formatAccounting(before)}`);
    assert.ok(handedOff < 550, `${handedOff} of 550 handed off`);

    const ready = await get('/readyz');
    assert.equal(ready.status, 503);
    assert.deepEqual(JSON.parse(ready.text).checks, { kafka: true, breaker: false, temporal: true });
    const state = await breaker();
    assert.equal(state.open, true);
    assert.ok(state.tripped!.window.records >= 60 && state.tripped!.window.deadLetters > 0.5 * state.tripped!.window.records, JSON.stringify(state.tripped));
    const exposition = await metrics();
    assert.equal(metricValue(exposition, 'lp_bridge_breaker_open'), 1);
    assert.equal(metricValue(exposition, 'lp_bridge_breaker_trips_total'), 1);

    // One sentence: what tripped, where the records are, how to resume.
    const lines = pausedLines();
    assert.equal(lines.length, 1);
    const { msg, level } = JSON.parse(lines[0]!) as { msg: string; level: number };
    assert.equal(level, 50, 'logged as an error');
    assert.match(
      msg,
      new RegExp(
        `^The input is paused: \\d+ of the last \\d+ records \\(\\d+\\.\\d%\\) were dead-lettered, more than DLQ_MAX_RATIO=0\\.5 of at least DLQ_MIN_RECORDS=60; ` +
          `the records wait in Kafka, see the dead letters with \`npm run dlq\`, and resume with \`npm run bridge -- --resume --url ${bridgeUrl.replace(/\./g, '\\.')}\` ` +
          `\\(or POST /breaker/resume on port \\d+, or kill -USR2 ${harness.bridge.pid}\\)\\.$`,
      ),
    );

    // The dashboard: the breaker open, the dead letters by reason.
    await waitFor(async () => (await testId('breaker-status')) === 'open: input paused', { timeoutMs: 15_000, message: 'the page to show the breaker open' });
    assert.match(await testId('breaker-detail'), /^Since \S+Z \(\d+ s ago\): \d+ of the last \d+ records .* were dead-lettered, .*\. The records wait in Kafka\.$/);
    assert.equal(await testId('breaker-resume'), `Resume: npm run bridge -- --resume (or POST ${bridgeUrl}/breaker/resume, or SIGUSR2 to the bridge)`);
    const deadLetters = harness.deadLetters().length;
    await waitFor(async () => (await testId('dead-letters-missing_field')) === String(deadLetters), { timeoutMs: 15_000, message: `the page to show ${deadLetters} dead letters` });

    // Meanwhile the operator looks at them and tries a replay: nothing in them is valid today.
    const dry = lastJson<ReplayResult>(await runCommand('dlq', ['replay', '--dry-run', '--json'], env));
    assert.deepEqual(dry.totals, { selected: deadLetters, replayed: 0, alreadyReplayed: 0, stillInvalid: deadLetters, notReplayable: 0 });
    const replay = lastJson<ReplayResult>(await runCommand('dlq', ['replay', '--reason', 'missing_field', '--json'], env));
    assert.equal(replay.totals.stillInvalid, deadLetters);
    const overview = await waitFor(
      async () => {
        const body = (await (await fetch(`${/Dashboard at (http:\/\/[^\s"\\]+)/.exec(dashboard.logText())![1]}/api/overview`)).json()) as Overview;
        return body.replays?.length === 2 ? body : undefined;
      },
      { timeoutMs: 15_000, message: 'the overview to list both replays' },
    );
    assert.deepEqual(
      overview.replays!.map((r) => [r.workflow_id, r.status, r.dry_run, r.replayed, r.left]).sort(),
      [
        [dry.replayId, 'COMPLETED', true, 0, deadLetters],
        [replay.replayId, 'COMPLETED', false, 0, deadLetters],
      ].sort(),
    );
    // The page polls on its own: it may still show a replay as running that the API has completed.
    const left = new Intl.NumberFormat('en-US').format(deadLetters);
    const shown = [`every dead letter\tcompleted (dry run)\t0\t${left}\t`, `reason missing_field\tcompleted\t0\t${left}\t`];
    let rows: string[] = [];
    await waitFor(
      async () => {
        rows = await page.locator('#replay-rows tr').allInnerTexts();
        return shown.every((row) => rows.some((t) => t.startsWith(row)));
      },
      { timeoutMs: 15_000, message: 'two completed replays on the page' },
    ).catch(() => undefined);
    assert.ok(rows.some((t) => t.startsWith(shown[0]!)), rows.join(' | '));
    assert.ok(rows.some((t) => t.startsWith(shown[1]!)), rows.join(' | '));
    assert.equal(await page.getByTestId('link-replays').getAttribute('href'), overview.temporal.replays);

    // Nothing was handed off while paused, all this time.
    assert.equal(metricValue(await metrics(), 'lp_bridge_records_total'), handedOff);
    assert.equal((await harness.accounting()).lost.length, before.lost.length);
    await page.screenshot({ path: join(LOG_DIR, 'dashboard-breaker-open.png'), fullPage: true });
  });

  it('resumes with npm run bridge -- --resume: the backlog goes through without tripping it again, each record once', async function () {
    const resumed = await runCommand('bridge/main', ['--resume', '--url', bridgeUrl], env);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`^Resumed the input of the bridge at ${bridgeUrl.replace(/\./g, '\\.')}: the records waiting in Kafka go through \\(\\d+ of them uncounted by the breaker\\)\\.\\n$`));
    const accounting = await harness.waitForAllAccounted();
    assert.equal(accounting.inputs, 550);
    assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
    assert.deepEqual(accounting.conflicting, []);
    assert.equal(accounting.deadLetters, 400);
    await harness.waitForRedisExact();
    const exposition = await metrics();
    assert.equal(metricValue(exposition, 'lp_bridge_breaker_open'), 0);
    assert.equal(metricValue(exposition, 'lp_bridge_breaker_trips_total'), 1, 'the backlog did not trip it again');
    assert.equal((await get('/readyz')).status, 200);
    assert.deepEqual((await breaker()).resumed?.by, 'POST /breaker/resume');
    assert.match(harness.bridge.logText(), /The input is resumed \(POST \/breaker\/resume\): the \d+ records waiting in Kafka go through/);
    await waitFor(async () => (await testId('breaker-status')) === 'closed', { timeoutMs: 15_000, message: 'the page to show the breaker closed again' });
    assert.match(await testId('breaker-detail'), /Last resumed \S+Z \(POST \/breaker\/resume\)\.$/);

    const again = await runCommand('bridge/main', ['--resume', '--url', bridgeUrl], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /is not open: nothing to resume\.\n$/);
    const nowhere = await runCommand('bridge/main', ['--resume'], env);
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.stderr, /^BRIDGE_HTTP_PORT is 0 .*--url/);
  });

  it('trips again on a second flood, and SIGUSR2 resumes it', async function () {
    await harness.produce([...flood(300, 'f2'), ...valid(20, 'f2')]);
    await waitFor(() => pausedLines().length === 2, { timeoutMs: 60_000, message: 'the second trip' });
    process.kill(harness.bridge.pid!, 'SIGUSR2');
    await harness.bridge.waitForLog('The input is resumed (SIGUSR2)');
    const accounting = await harness.waitForAllAccounted();
    assert.equal(accounting.inputs, 870);
    assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
    assert.equal(accounting.deadLetters, 700);
    await harness.waitForRedisExact();
    assert.equal(metricValue(await metrics(), 'lp_bridge_breaker_trips_total'), 2);
  });
});
