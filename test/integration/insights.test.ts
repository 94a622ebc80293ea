/**
 * Rolling insights: exact counts and HyperLogLog estimates for a known input, exactly once under
 * a forced activity retry and across a Redis restart, the summary on OUTPUT_TOPIC matching
 * `npm run query`, `temporal workflow query`, and continue-as-new.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import type { Message } from 'kafkajs';
import { Worker } from '@temporalio/worker';
import { connectClient, connectNative } from '../../src/clients/temporal';
import type { Summary } from '../../src/domain/types';
import { stackLayout } from '../../src/stack/layout';
import { temporalCli } from '../../src/stack/temporal';
import { latestSummaryQuery, summariesWorkflow } from '../../src/workflows/insights';
import { formatAccounting } from '../helpers/accounting';
import { workerActivities } from '../helpers/activities';
import { DedicatedService } from '../helpers/dedicated';
import { hyperLogLogEstimate } from '../helpers/redis';
import { PipelineHarness } from '../helpers/pipeline';
import { quietTemporalRuntime } from '../helpers/runtime';
import { waitFor } from '../helpers/wait';

const exec = promisify(execFile);
// Each test's records are timed around its own start: a module-load time would fall out of the
// summary's 5-minute window when the suite reaches these tests minutes later.
let NOW_S = Math.floor(Date.now() / 1000);

/** 3000 logins by 1000 users on 1200 devices, over two versions, with known device types and locales. */
function knownInput(): { messages: Message[]; expected: Record<string, { logins: number; users: Set<string>; devices: Set<string>; deviceTypes: Record<string, number>; locales: Record<string, number> }> } {
  const users = Array.from({ length: 1000 }, () => randomUUID());
  const devices = Array.from({ length: 1200 }, () => randomUUID());
  const versions = ['2.3.0', '3.0.1-beta.1'];
  const types = ['iOS', 'android', undefined];
  const locales = ['WA', 'CA', 'ny'];
  const expected: ReturnType<typeof knownInput>['expected'] = {};
  const messages: Message[] = [];
  for (let i = 0; i < 3000; i++) {
    const version = versions[i % 7 === 0 ? 1 : 0]!;
    const record = {
      user_id: users[i % users.length],
      device_id: devices[(i * 7) % devices.length],
      app_version: version,
      device_type: types[i % 3],
      locale: locales[i % 4 === 0 ? 2 : i % 2],
      ip: '10.0.0.1',
      timestamp: NOW_S - (i % 120),
    };
    const e = (expected[version] ??= { logins: 0, users: new Set(), devices: new Set(), deviceTypes: {}, locales: {} });
    e.logins++;
    e.users.add(record.user_id!);
    e.devices.add(record.device_id!);
    const type = record.device_type?.toLowerCase() ?? 'unknown';
    e.deviceTypes[type] = (e.deviceTypes[type] ?? 0) + 1;
    const locale = record.locale!.toUpperCase();
    e.locales[locale] = (e.locales[locale] ?? 0) + 1;
    messages.push({ key: randomUUID(), value: JSON.stringify(record) });
  }
  return { messages, expected };
}

describe('rolling insights', function () {
  before(quietTemporalRuntime);
  beforeEach(() => {
    NOW_S = Math.floor(Date.now() / 1000);
  });

  it('counts exactly, and estimates unique users and devices as Redis does for the known input', async () => {
    const harness = new PipelineHarness('insights-known', { BATCH_MAX_RECORDS: '200' });
    try {
      await harness.setup();
      await harness.startAll();
      const { messages, expected } = knownInput();
      await harness.produce(messages);
      const accounting = await harness.waitForAllAccounted();
      assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
      await harness.waitForRedisExact();
      const summary = await harness.store().readWindow((NOW_S - 600) * 1000, (NOW_S + 60) * 1000);
      assert.equal(summary.totals.logins, 3000);
      const redis = harness.redis();
      const reference = (name: string) => `${harness.config.redis.prefix}test:reference:${name}`;
      const allUsers = new Set(Object.values(expected).flatMap((e) => [...e.users]));
      assert.equal(summary.totals.unique_users, await hyperLogLogEstimate(redis, reference('users'), allUsers), `total unique users (${allUsers.size} in truth)`);
      assert.deepEqual(Object.keys(summary.app_versions).sort(), Object.keys(expected).sort());
      for (const [version, e] of Object.entries(expected)) {
        const got = summary.app_versions[version]!;
        assert.equal(got.logins, e.logins, `${version} logins`);
        assert.deepEqual({ ...got.device_types }, e.deviceTypes, `${version} device types`);
        assert.deepEqual({ ...got.locales }, e.locales, `${version} locales`);
        assert.equal(got.unique_users, await hyperLogLogEstimate(redis, reference(`users:${version}`), e.users), `${version} unique users (${e.users.size} in truth)`);
        assert.equal(got.unique_devices, await hyperLogLogEstimate(redis, reference(`devices:${version}`), e.devices), `${version} unique devices (${e.devices.size} in truth)`);
      }
    } finally {
      await harness.close();
    }
  });

  it('counts once and publishes once when every batch activity is retried after it succeeded', async () => {
    const harness = new PipelineHarness('insights-retry', { BATCH_MAX_RECORDS: '50' });
    const config = harness.config;
    const { activities, clients } = workerActivities(config);
    const connection = await connectNative(config.temporal);
    try {
      await harness.setup();
      const attempts = new Map<string, number>();
      // The activity does all its work, then fails once: Temporal retries it in full.
      const processRanges: typeof activities.processRanges = async (spec, processedAtMs) => {
        const result = await activities.processRanges(spec, processedAtMs);
        const n = (attempts.get(spec.batchId) ?? 0) + 1;
        attempts.set(spec.batchId, n);
        if (n === 1) throw new Error('injected failure after a successful attempt');
        return result;
      };
      const worker = await Worker.create({
        connection,
        taskQueue: config.temporal.taskQueue,
        workflowsPath: require.resolve('../../src/workflows'),
        activities: { ...activities, processRanges },
      });
      await harness.bridge.start();
      const { messages } = knownInput();
      await worker.runUntil(async () => {
        await harness.produce(messages.slice(0, 600));
        const accounting = await harness.waitForAllAccounted();
        assert.equal(accounting.duplicates, 0, `a retried batch is not published again: ${formatAccounting(accounting)}`);
        await harness.waitForRedisExact();
      });
      assert.ok(attempts.size >= 12, `at least 12 batches (${attempts.size})`);
      assert.ok([...attempts.values()].every((n) => n >= 2), 'every batch ran twice');
    } finally {
      await clients.close();
      await connection.close();
      await harness.close();
    }
  });

  it('loses nothing acknowledged when Redis is killed and restarted', async () => {
    const redisServer = new DedicatedService('redis', 'redis-restart', 16379);
    await redisServer.start();
    const harness = new PipelineHarness('insights-redis', { ...redisServer.env });
    try {
      await harness.setup();
      await harness.startAll();
      const { messages } = knownInput();
      await harness.produce(messages.slice(0, 1500));
      const accounting = await harness.waitForAllAccounted();
      await harness.waitForRedisExact();
      const before = await harness.store().readWindow((NOW_S - 600) * 1000, (NOW_S + 60) * 1000);
      harness.redis().disconnect();
      await redisServer.kill();
      await redisServer.start();
      const fresh = new PipelineHarness('unused', { ...redisServer.env, REDIS_PREFIX: harness.config.redis.prefix });
      const after = await fresh.store().readWindow((NOW_S - 600) * 1000, (NOW_S + 60) * 1000);
      fresh.redis().disconnect();
      assert.equal(after.totals.logins, accounting.distinctLogins);
      assert.deepEqual(JSON.parse(JSON.stringify(after.app_versions)), JSON.parse(JSON.stringify(before.app_versions)));
      // And the pipeline carries on against the restarted Redis.
      await harness.produce(messages.slice(1500, 1800));
      const later = await harness.waitForAllAccounted();
      assert.equal(later.inputs, 1800);
      await harness.waitForRedisExact();
    } finally {
      await harness.close();
      await redisServer.stop();
    }
  });

  it('publishes a summary within two intervals that matches `npm run query` and `temporal workflow query`', async () => {
    const interval = 3;
    const harness = new PipelineHarness('insights-summary', { SUMMARY_INTERVAL_SECONDS: String(interval), SUMMARY_WINDOW_SECONDS: '300' });
    try {
      await harness.setup();
      await harness.startAll();
      const { messages } = knownInput();
      await harness.produce(messages.slice(0, 500));
      const accounting = await harness.waitForAllAccounted();
      await harness.waitForRedisExact();
      const settled = Date.now();
      const summaries = () =>
        harness.reader
          .of(harness.config.kafka.outputTopic)
          .filter((m) => m.headers.type === 'summary')
          .map((m) => ({ message: m, body: JSON.parse(m.value!.toString()) as Summary }));
      const latest = await waitFor(
        () => summaries().find((s) => Date.parse(s.body.generated_at) > settled && s.body.totals.logins === accounting.distinctLogins),
        { timeoutMs: 2 * interval * 1000 + 5_000, message: 'a summary counting every login, within two intervals' },
      );
      assert.equal(latest.message.key?.toString(), 'summary');
      assert.equal(latest.body.type, 'summary');
      assert.equal(latest.body.window.seconds, 300);
      assert.equal(Date.parse(latest.body.window.end) - Date.parse(latest.body.window.start), 300_000);

      const { stdout } = await exec(process.execPath, ['lib/src/cli/query.js', '--json', '--since', latest.body.window.start, '--until', latest.body.window.end], {
        env: { ...process.env, ...harness.t.env },
      });
      const queried = JSON.parse(stdout.trim().split('\n').pop()!);
      const { generated_at: _a, type: _t, ...published } = latest.body;
      const { generated_at: _b, ...fromQuery } = queried;
      assert.deepEqual(fromQuery, JSON.parse(JSON.stringify(published)));

      const cli = temporalCli(harness.config, stackLayout(harness.config));
      assert.ok(cli, 'the temporal CLI of the stack');
      const answered = await waitFor(
        async () => {
          const { stdout: out } = await exec(cli, [
            'workflow', 'query', '--workflow-id', harness.config.temporal.insightsWorkflowId, '--type', 'latestSummary',
            '--address', harness.config.temporal.address, '-o', 'json',
          ]);
          const result = JSON.parse(out) as { queryResult: Summary[] };
          const summary = result.queryResult[0]!;
          return summary.totals.logins === accounting.distinctLogins ? summary : undefined;
        },
        { timeoutMs: 2 * interval * 1000 + 5_000, message: '`temporal workflow query` to answer the latest summary' },
      );
      assert.equal(answered.type, 'summary');
      assert.equal(answered.window.seconds, 300);
    } finally {
      await harness.close();
    }
  });

  it('continues as new and still answers latestSummary', async () => {
    const harness = new PipelineHarness('insights-can');
    const config = harness.config;
    const { activities, clients } = workerActivities(config);
    const connection = await connectNative(config.temporal);
    const client = await connectClient(config.temporal);
    try {
      await harness.setup();
      const worker = await Worker.create({
        connection,
        taskQueue: config.temporal.taskQueue,
        workflowsPath: require.resolve('../../src/workflows'),
        activities,
      });
      await worker.runUntil(async () => {
        const handle = await client.workflow.start(summariesWorkflow, {
          workflowId: config.temporal.insightsWorkflowId,
          taskQueue: config.temporal.taskQueue,
          args: [{ settings: { intervalSeconds: 1, windowSeconds: 300, summariesPerRun: 2 } }],
        });
        const firstRun = handle.firstExecutionRunId;
        await waitFor(async () => (await client.workflow.getHandle(handle.workflowId).describe()).runId !== firstRun, {
          timeoutMs: 30_000,
          message: 'the insights workflow to continue as new',
        });
        const latest = await client.workflow.getHandle(handle.workflowId).query(latestSummaryQuery);
        assert.equal(latest?.type, 'summary', 'the new run carries the latest summary over');
        await client.workflow.getHandle(handle.workflowId).terminate('test done');
      });
    } finally {
      await clients.close();
      await client.connection.close();
      await connection.close();
      await harness.close();
    }
  });
});
