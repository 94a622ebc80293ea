/**
 * The apt path for real, with a small harmless package (`hello`) installed and removed again:
 * two commands asking at once install it in one transaction; a command killed in the middle of
 * apt leaves no apt-get or dpkg running, and the next one completes. Root on Debian only.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { ensureDebianPackages, type DebianPackage } from '../../src/stack/apt';
import { launch, killLaunched, lockIsFree, processesWithEnvironment, ROOT } from '../helpers/provisioning';
import { waitFor } from '../helpers/wait';

const HELLO: DebianPackage = { name: 'hello', purpose: 'the apt test', present: () => existsSync('/usr/bin/hello') };
const CACHE = join(ROOT, '.data', 'test-stacks', 'apt', 'cache');

function removeHello(): void {
  if (HELLO.present()) spawnSync('dpkg', ['--remove', 'hello'], { stdio: 'ignore' });
}

describe("Debian's packages", function () {
  this.timeout(300_000);
  const config = loadConfig({ ...process.env, STACK_CACHE_DIR: CACHE });

  before(function () {
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) this.skip();
    rmSync(CACHE, { recursive: true, force: true });
    removeHello();
  });
  after(() => {
    removeHello();
    rmSync(CACHE, { recursive: true, force: true });
  });

  it('a command killed (SIGKILL) in the middle of apt leaves no apt-get or dpkg running, and its lock free', async () => {
    const install = `require(${JSON.stringify(join(ROOT, 'lib', 'src', 'stack', 'apt.js'))}).ensureDebianPackages(
      require(${JSON.stringify(join(ROOT, 'lib', 'src', 'config.js'))}).loadConfig(),
      [{ name: 'hello', purpose: 'the apt test', present: () => require('node:fs').existsSync('/usr/bin/hello') }])`;
    const run = launch(['-e', install], { ...process.env, STACK_CACHE_DIR: CACHE });
    try {
      const ours = () => processesWithEnvironment('STACK_CACHE_DIR', CACHE).filter((p) => p.pid !== run.child.pid);
      await waitFor(() => ours().some((p) => /apt-get|dpkg/.test(p.command)), {
        timeoutMs: 60_000,
        intervalMs: 20,
        message: () => `apt-get or dpkg to run:\n${run.output()}`,
      });
      run.child.kill('SIGKILL');
      await run.exited;
      // apt-get update is quick here, so this shows that nothing is left, not who ended it: that the
      // lock's guard kills a step's commands at once is proven with go and Maven (provision.test.ts).
      await waitFor(() => ours().length === 0, { timeoutMs: 5_000, intervalMs: 20, message: () => `nothing of apt to remain: ${JSON.stringify(ours())}` });
      assert.ok(lockIsFree(join(CACHE, 'locks', 'apt.lock')));
    } finally {
      killLaunched(run);
    }
  });

  it('two commands asking for a missing package at once install it in one transaction', async () => {
    const lines: string[] = [];
    const report = (line: string) => lines.push(line);
    await Promise.all([ensureDebianPackages(config, [HELLO], { report }), ensureDebianPackages(config, [HELLO], { report })]);
    assert.ok(HELLO.present(), 'hello is installed');
    assert.equal(lines.filter((l) => /^Installing hello from Debian's packages/.test(l)).length, 1, lines.join('\n'));
    const again: string[] = [];
    await ensureDebianPackages(config, [HELLO], { report: (l) => again.push(l) });
    assert.deepEqual(again, [], 'nothing to do once it is there');
  });
});
