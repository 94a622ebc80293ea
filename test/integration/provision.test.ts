/**
 * Provisioning with the real steps (Maven fetching Kafka's jars, go building the Temporal CLI)
 * on an empty STACK_CACHE_DIR of this test's own, and a stack of its own (STACK_DIR, ports):
 * interrupted at any moment, or failing in one step, it leaves nothing running and the next run
 * takes it up; two `npm run stack:up` at once both succeed and fetch and build once; the stack's
 * Temporal keeps closed runs as long as its Kafka keeps records. Go's module and build caches are
 * shared, so a build takes seconds.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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
      await waitFor(() => leftovers().length === 0, {
        timeoutMs: 15_000,
        intervalMs: 100,
        message: () => `no process of the killed command to remain: ${JSON.stringify(leftovers(), null, 1)}`,
      });
      for (const step of ['kafka-jars', 'temporal-cli']) assert.ok(lockIsFree(join(CACHE, 'locks', `${step}.lock`)), `the ${step} lock is free`);
      assert.ok(existsSync(join(CACHE, `temporal-cli-${TEMPORAL_CLI_VERSION}.partial`)), 'it was killed half-way through the build');
    } finally {
      killLaunched(run);
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
});
