/** `npm start` brings the whole product up, a summary appears, and Ctrl-C stops it all gracefully. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Summary } from '../../src/domain/types';
import { testEnv } from '../helpers/env';
import { testKafka, TopicReader } from '../helpers/kafka';
import { terminateInsights } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

const ROOT = resolve(__dirname, '..', '..', '..');

describe('npm start', function () {
  it('runs the stack, worker, bridge, dashboard and generator; a summary appears; Ctrl-C stops everything', async () => {
    const t = testEnv('start', { SUMMARY_INTERVAL_SECONDS: '2', DASHBOARD_PORT: '0' });
    const kafka = testKafka(t.config);
    const child = spawn(process.execPath, [resolve(ROOT, 'scripts/run.mjs'), 'start'], {
      cwd: ROOT,
      env: { ...process.env, ...t.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, as a terminal gives a foreground command.
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
    let reader: TopicReader | undefined;
    try {
      await waitFor(() => output.includes('The login pipeline is running'), { timeoutMs: 120_000, message: () => `the banner of npm start:\n${output.slice(-3000)}` });
      assert.match(output, /Temporal Web UI\s+http:\/\/127\.0\.0\.1:8233/);
      assert.match(output, /dashboard\s+http:\/\/127\.0\.0\.1:\d+/);
      assert.match(output, /npm run tail/);
      assert.match(output, /npm run query/);
      reader = await new TopicReader(kafka, [t.config.kafka.outputTopic]).start();
      const summary = await waitFor(
        () =>
          reader!
            .of(t.config.kafka.outputTopic)
            .filter((m) => m.headers.type === 'summary')
            .map((m) => JSON.parse(m.value!.toString()) as Summary)
            .find((s) => s.totals.logins > 0),
        { timeoutMs: 60_000, message: () => `a summary counting the generator's logins:\n${output.slice(-3000)}` },
      );
      assert.equal(summary.type, 'summary');
      assert.ok(summary.app_versions['2.3.0'], 'the generator sends app version 2.3.0');
      // Ctrl-C as a terminal sends it: to the whole process group, children included.
      process.kill(-child.pid!, 'SIGINT');
      const code = await Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`npm start did not stop within 60 s:\n${output.slice(-3000)}`)), 60_000))]);
      assert.equal(code, 0, output.slice(-3000));
      assert.match(output, /Stopped\. State is kept in/);
      assert.doesNotMatch(output, /Second signal/, 'one Ctrl-C is one graceful stop, not two signals');
      assert.doesNotMatch(output, /A worker engine exited/, 'the Ctrl-C reaches the worker, which stops its engines after draining them');
      for (const line of ['Worker stopped', 'Bridge stopped', 'Dashboard stopped']) assert.match(output, new RegExp(line));
      for (const name of ['worker', 'bridge', 'dashboard', 'generator']) assert.match(output, new RegExp(`${name}\\s*\\|`), `${name} ran`);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
      await reader?.close();
      await terminateInsights(t.config);
    }
  });
});
