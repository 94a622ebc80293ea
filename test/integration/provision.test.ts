/**
 * Provisioning with the real steps (Maven fetching Kafka's jars, go building the Temporal CLI)
 * on an empty STACK_CACHE_DIR of this test's own, and a stack of its own (STACK_DIR, ports):
 * interrupted at any moment, or failing in one step, it leaves nothing running and the next run
 * takes it up; two `npm run stack:up` at once both succeed and fetch and build once; the stack's
 * Temporal keeps closed runs as long as its Kafka keeps records; `npm run temporal` builds the CLI
 * when it is missing; and every command the README and the start banner give works as typed. Go's
 * module and build caches are shared, so a build takes seconds.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connectClient } from '../../src/clients/temporal';
import { loadConfig, type Environment } from '../../src/config';
import { withDeadline } from '../../src/process/wait';
import { KAFKA_LOG_RETENTION_HOURS, TEMPORAL_CLI_VERSION } from '../../src/stack/layout';
import { killLaunched, launch, lockIsFree, pathWithoutTemporal, processesWithEnvironment, ROOT, type Launched } from '../helpers/provisioning';
import { waitFor } from '../helpers/wait';

const DIR = join(ROOT, '.data', 'test-stacks', 'provision');
const CACHE = join(DIR, 'cache');

/** This stack's own ports, below the ephemeral range (see test/helpers/dedicated.ts); Kafka also takes 22093, the Web UI 23233. */
export const PROVISION_ENV: Environment = {
  STACK_DIR: join(DIR, 'stack'),
  STACK_CACHE_DIR: CACHE,
  KAFKA_BROKERS: '127.0.0.1:22092',
  TEMPORAL_ADDRESS: '127.0.0.1:22233',
  REDIS_URL: 'redis://127.0.0.1:22379',
  DASHBOARD_PORT: '22300',
  BRIDGE_HTTP_PORT: '22464',
  WORKER_HTTP_PORT: '22465',
  PATH: pathWithoutTemporal(),
  LOG_FORMAT: 'json',
};
const env: Environment = { ...process.env, ...PROVISION_ENV };

const leftovers = () => processesWithEnvironment('STACK_CACHE_DIR', CACHE);
const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
const goBuild = (p: { command: string }) => / install -ldflags=.*temporalio\/cli/.test(p.command);
const mavenFetch = (p: { command: string }) => /plexus-classworlds/.test(p.command) && /copy-dependencies/.test(p.command);

/** Starts `stack up` on the empty cache and resolves once go and Maven both run. */
async function provisioningHalfway(): Promise<Launched> {
  const run = launch([join(ROOT, 'scripts', 'run.mjs'), 'stack', 'up'], env);
  await waitFor(
    () => {
      const running = leftovers();
      return running.some(goBuild) && running.some(mavenFetch);
    },
    { timeoutMs: 60_000, intervalMs: 50, message: () => `go and Maven to run:\n${run.output()}` },
  );
  return run;
}

describe('provisioning on an empty cache', function () {
  this.timeout(300_000);

  before(() => rmSync(DIR, { recursive: true, force: true }));
  after(async () => {
    const down = launch('npm run stack:down', env);
    await withDeadline(down.exited, 120_000, 'npm run stack:down');
    // The jars and the CLI (300 MB); the logs under stack/ stay for a look.
    rmSync(CACHE, { recursive: true, force: true });
  });

  it('killed (SIGKILL) while fetching and building, leaves no process running and no lock held', async () => {
    const run = await provisioningHalfway();
    try {
      run.child.kill('SIGKILL');
      await run.exited;
      // Within a second (it takes some 40 ms): go and Maven left alone would die too, but only
      // seconds later, of a SIGPIPE when they next write to their dead parent's pipes, or never.
      await waitFor(() => leftovers().length === 0, {
        timeoutMs: 1_000,
        intervalMs: 20,
        message: () => `no process of the killed command to remain: ${JSON.stringify(leftovers(), null, 1)}`,
      });
      for (const step of ['kafka-jars', 'temporal-cli']) assert.ok(lockIsFree(join(CACHE, 'locks', `${step}.lock`)), `the ${step} lock is free`);
      const staging = join(CACHE, `temporal-cli-${TEMPORAL_CLI_VERSION}.partial`);
      assert.ok(existsSync(staging), 'it was killed half-way through the build');
      // A go left running would have finished its build into the staging folder (its GOBIN).
      assert.ok(!existsSync(join(staging, 'bin', 'temporal')), 'the build was stopped with its command, not left to finish');
    } finally {
      killLaunched(run);
    }
  });

  it('killed (SIGKILL) while waiting for a lock another command holds, leaves nothing waiting', async () => {
    // Another command building the CLI, as long as this test wants: a flock(1) on the same lock.
    const lockFile = join(CACHE, 'locks', 'temporal-cli.lock');
    mkdirSync(dirname(lockFile), { recursive: true });
    const other = spawn('flock', ['--exclusive', lockFile, 'sleep', '600'], { detached: true, stdio: 'ignore' });
    const waiter = launch([join(ROOT, 'scripts', 'run.mjs'), 'stack', 'up'], env);
    try {
      await waitFor(() => !lockIsFree(lockFile), { timeoutMs: 10_000, message: 'the other command to hold the lock' });
      await waitFor(() => /Waiting for another command.* that is building the Temporal CLI/.test(waiter.output()), {
        timeoutMs: 60_000,
        message: () => `the command to wait for the lock:\n${waiter.output()}`,
      });
      waiter.child.kill('SIGKILL');
      await waiter.exited;
      // Its flock waiting for the lock dies with it (setpriv --pdeathsig), its Maven with its guard.
      await waitFor(() => leftovers().length === 0, {
        timeoutMs: 15_000,
        intervalMs: 100,
        message: () => `nothing of the killed command to wait or run: ${JSON.stringify(leftovers(), null, 1)}`,
      });
    } finally {
      killLaunched(waiter);
      try {
        process.kill(-other.pid!, 'SIGKILL'); // flock and its sleep, which holds the lock too
      } catch {
        /* already gone */
      }
    }
  });

  it('interrupted (Ctrl-C) while fetching and building, stops its commands, removes what they left, and says so', async () => {
    const run = await provisioningHalfway();
    try {
      run.interrupt('SIGINT');
      const { code } = await withDeadline(run.exited, 30_000, 'the interrupted stack up to exit');
      assert.equal(code, 1, run.output());
      assert.match(run.output(), /Provisioning was interrupted by SIGINT; nothing it started still runs/);
      // Its commands are gone once it has exited (their killed children may take a moment more).
      await waitFor(() => leftovers().length === 0, { timeoutMs: 5_000, intervalMs: 100, message: () => JSON.stringify(leftovers(), null, 1) });
      assert.deepEqual(
        readdirSync(CACHE).filter((name) => name.endsWith('.partial')),
        [],
        'the staging folders (including those the killed command left) are gone',
      );
    } finally {
      killLaunched(run);
    }
  });

  it('a failing step stops the others: Maven fails, the CLI build stops with it, and nothing is left running', async () => {
    // Maven fails at once, for a real reason: its local repository cannot be created.
    const run = launch([join(ROOT, 'scripts', 'run.mjs'), 'stack', 'up'], { ...env, MAVEN_OPTS: '-Dmaven.repo.local=/proc/no-such-repository' });
    try {
      const { code } = await withDeadline(run.exited, 120_000, 'the failing stack up to exit');
      assert.equal(code, 1, run.output());
      assert.match(run.output(), /Building the Temporal CLI/);
      assert.match(run.output(), /Maven, fetching Kafka's jars failed \(exit code 1\)/);
      await waitFor(() => leftovers().length === 0, { timeoutMs: 5_000, intervalMs: 100, message: () => JSON.stringify(leftovers(), null, 1) });
      assert.ok(!existsSync(join(CACHE, `temporal-cli-${TEMPORAL_CLI_VERSION}`)), 'the build was stopped, not finished');
      assert.deepEqual(
        readdirSync(CACHE).filter((name) => name.endsWith('.partial')),
        [],
      );
      assert.ok(lockIsFree(join(CACHE, 'locks', 'temporal-cli.lock')));
    } finally {
      killLaunched(run);
    }
  });

  it('two `npm run stack:up` at once both succeed; the jars are fetched once, the CLI built once, each service started once', async () => {
    const [first, second] = [launch('npm run stack:up', env), launch('npm run stack:up', env)];
    try {
      const exits = await withDeadline(Promise.all([first.exited, second.exited]), 240_000, 'both stack:up to finish');
      const both = `${first.output()}\n${second.output()}`;
      assert.deepEqual(
        exits.map((e) => e.code),
        [0, 0],
        both,
      );
      assert.equal(count(both, /Fetching Apache Kafka/), 1, both);
      assert.equal(count(both, /Building the Temporal CLI/), 1, both);
      // Four addresses each: Kafka, Temporal, its Web UI, Redis.
      assert.equal(count(both, /\(started\)/), 4, both);
      assert.equal(count(both, /\(already-ours\)/), 4, both);
      assert.ok(existsSync(join(CACHE, `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal')));
    } finally {
      killLaunched(first);
      killLaunched(second);
    }
  });

  it("keeps Temporal's closed runs at least as long as Kafka keeps records", async () => {
    const properties = readFileSync(join(DIR, 'stack', 'kafka', 'server.properties'), 'utf8');
    assert.match(properties, new RegExp(`^log\\.retention\\.hours=${KAFKA_LOG_RETENTION_HOURS}$`, 'm'));
    const config = loadConfig(env);
    const client = await connectClient(config.temporal);
    try {
      const described = await client.workflowService.describeNamespace({ namespace: config.temporal.namespace });
      assert.equal(Number(described.config?.workflowExecutionRetentionTtl?.seconds), KAFKA_LOG_RETENTION_HOURS * 3600);
    } finally {
      await client.connection.close();
    }
  });

  it('`npm run temporal` builds the CLI when it is missing, runs it with the arguments given, and passes its exit code on', async () => {
    const cache = join(DIR, 'cache-cli');
    const own = { ...env, STACK_CACHE_DIR: cache };
    try {
      const version = launch('npm run --silent temporal -- --version', own);
      const { code } = await withDeadline(version.exited, 240_000, 'npm run temporal -- --version');
      assert.equal(code, 0, version.output());
      assert.match(version.output(), /Building the Temporal CLI/);
      assert.match(version.output(), new RegExp(`temporal version ${TEMPORAL_CLI_VERSION.replace(/\./g, '\\.')}`));
      // Pointed at this stack (TEMPORAL_ADDRESS), a failing command fails the same way through npm.
      const missing = launch('npm run --silent temporal -- workflow describe --workflow-id no-such-workflow', own);
      const failed = await withDeadline(missing.exited, 60_000, 'npm run temporal -- workflow describe');
      assert.equal(failed.code, 1, missing.output());
      assert.match(missing.output(), /not found/i);
      assert.doesNotMatch(missing.output(), /Building the Temporal CLI/, 'built once');
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('every command the README and the start banner give works as typed, with `npm start` running', async () => {
    // A summary every 2 s instead of 60, so that the Temporal query has one to answer soon.
    const startEnv = { ...env, SUMMARY_INTERVAL_SECONDS: '2' };
    const start = launch('npm start', startEnv);
    try {
      const banner = await waitFor(() => /The login pipeline is running[\s\S]*?\n─{20,}/.exec(start.output())?.[0], {
        timeoutMs: 180_000,
        message: () => `the banner of npm start:\n${start.output().slice(-3000)}`,
      });
      const fromBanner = [...banner.matchAll(/^ {3}(npm run \S.*?)(?: {2,}\S.*)?$/gm)].map((m) => m[1]!.trim());
      assert.deepEqual(fromBanner, [
        'npm run tail',
        'npm run tail -- --topic user-login-dlq',
        'npm run query',
        'npm run temporal -- workflow query --workflow-id login-insights --type latestSummary',
        `npm run temporal -- workflow list --query 'BatchTopic="user-login"'`,
      ]);
      const fromReadme = readmeCommands();
      for (const command of [...fromBanner, ...fromReadme.filter((c) => !NOT_RUN_HERE.has(c) && !fromBanner.includes(c))]) await worksAsTyped(command, startEnv);
      start.interrupt('SIGINT');
      await stoppedByCtrlC(start, 'npm start', 60_000);
      assert.match(start.output(), /Stopped\. State is kept in/);
    } finally {
      killLaunched(start);
    }
  });
});

/**
 * After a Ctrl-C the command has stopped, entirely: npm itself ends by the SIGINT (as for any npm
 * script: a shell shows 130), the command it ran with code 0 after its graceful stop.
 */
async function stoppedByCtrlC(run: Launched, command: string, timeoutMs: number): Promise<void> {
  const { code, signal } = await withDeadline(run.exited, timeoutMs, `"${command}" to stop on Ctrl-C`);
  assert.ok(code === 0 || signal === 'SIGINT', `"${command}" stopped by Ctrl-C (code ${code}, signal ${signal}):\n${run.output().slice(-3000)}`);
  await run.gone(timeoutMs);
  assert.doesNotMatch(run.output(), /npm (ERR!|error)|exited \(code [1-9]/, run.output().slice(-3000));
}

/** README commands this test does not run, and why. */
const NOT_RUN_HERE = new Map([
  ['npm start', 'the test above runs it'],
  ['npm test', 'it runs this test'],
  ['docker compose up -d --build', 'no Docker on the test machines'],
]);

/** Every command line of the README's `sh` blocks, comments dropped. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```sh\n([\s\S]*?)^```/gm)].flatMap((block) =>
    block[1]!
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').trim())
      .filter(Boolean),
  );
}

/** What each command shows when it works; a command without an entry here fails the test. */
const EXPECTED: { command: RegExp; shows: RegExp; runsUntilStopped?: boolean }[] = [
  { command: /^npm run tail$/, shows: /processed-topic\[\d+\]@\d+/, runsUntilStopped: true },
  { command: /^npm run tail -- --topic user-login-dlq$/, shows: /Tailing user-login-dlq/, runsUntilStopped: true },
  { command: /^npm run query$/, shows: /2\.3\.0/ },
  { command: /workflow query --workflow-id login-insights --type latestSummary$/, shows: /"logins":\s*[1-9]/ },
  { command: /workflow list --query 'BatchTopic="user-login"'$/, shows: /batch\/login-pipeline\/user-login\/[0-9a-f]+\.\d+\.\d+/ },
  { command: /^npm run dlq -- --since 1h$/, shows: /Dead letters of user-login-dlq/ },
  { command: /^npm run dlq -- replay --dry-run$/, shows: /Dry run, nothing written/ },
  { command: /^npm run reconcile -- --since 15m --until 1m$/, shows: /GREEN, Redis matches the topic/ },
];

/**
 * Runs the command through sh in the clone: it exits 0 and shows what it should (tried again
 * while the pipeline has not produced it yet); one that tails is stopped with Ctrl-C and must exit 0.
 */
async function worksAsTyped(command: string, env: Environment): Promise<void> {
  const expected = EXPECTED.find((e) => e.command.test(command));
  assert.ok(expected, `no expectation for the command "${command}": add one to EXPECTED`);
  if (expected.runsUntilStopped) {
    const run = launch(command, env);
    try {
      await waitFor(() => expected.shows.test(run.output()), { timeoutMs: 60_000, message: () => `"${command}" to show ${expected.shows}:\n${run.output()}` });
      run.interrupt('SIGINT');
      await stoppedByCtrlC(run, command, 30_000);
    } finally {
      killLaunched(run);
    }
    return;
  }
  let last = '';
  await waitFor(
    async () => {
      const run = launch(command, env);
      const { code } = await withDeadline(run.exited, 60_000, `"${command}"`);
      last = run.output();
      assert.equal(code, 0, `"${command}" exits 0:\n${last}`);
      return expected.shows.test(last);
    },
    { timeoutMs: 60_000, intervalMs: 1_000, message: () => `"${command}" to show ${expected.shows}:\n${last}` },
  );
}
