#!/usr/bin/env node
// Entry point of every npm script: on a fresh clone it installs the dependencies and builds
// the TypeScript once, then runs the command's compiled module in this same process (so that
// signals reach it directly). Plain Node on purpose: nothing is installed when this runs.
// Two commands started at once on a fresh clone install and build once: that part runs under a
// lock (util-linux's flock, when there is one) and checks again inside it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const entries = {
  start: 'lib/src/cli/start.js',
  test: 'lib/src/cli/test.js',
  stack: 'lib/src/stack/cli.js',
  worker: 'lib/src/worker/main.js',
  bridge: 'lib/src/bridge/main.js',
  generate: 'lib/src/cli/generate.js',
  query: 'lib/src/cli/query.js',
  tail: 'lib/src/cli/tail.js',
  bench: 'lib/src/cli/bench.js',
  dashboard: 'lib/src/dashboard/main.js',
  dlq: 'lib/src/cli/dlq.js',
  reconcile: 'lib/src/cli/reconcile.js',
  temporal: 'lib/src/cli/temporal.js',
};

function fail(sentence) {
  process.stderr.write(`${sentence}\n`);
  process.exit(1);
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) fail(`Node.js 20.19 or newer is needed; this is ${process.versions.node}.`);
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.error) fail(`Could not run ${command}: ${result.error.message}.`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} failed with exit code ${result.status}.`);
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

function newestIn(dir) {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const buildStamp = join(root, 'lib', '.buildstamp');

function dependenciesCurrent() {
  return mtime(join(root, 'node_modules', '.package-lock.json')) >= mtime(join(root, 'package-lock.json'));
}

function buildCurrent() {
  const sources = Math.max(newestIn(join(root, 'src')), newestIn(join(root, 'test')), mtime(join(root, 'tsconfig.json')), mtime(join(root, 'package-lock.json')));
  return mtime(buildStamp) >= sources;
}

function ensureDependencies() {
  if (dependenciesCurrent()) return;
  process.stderr.write('Installing dependencies (npm ci)…\n');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
}

function ensureBuild() {
  const stamp = buildStamp;
  if (buildCurrent()) return;
  process.stderr.write('Building (tsc, workflow bundle)…\n');
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  // The Redis scripts, and the workflow bundle prebuilt so that workers need not load webpack.
  run(process.execPath, [join(root, 'lib', 'src', 'build', 'post-compile.js')]);
  writeFileSync(stamp, new Date().toISOString());
}

/** Installs and builds what is out of date; under a lock in .data/, so that a second command waits and finds it done. */
function prepare() {
  if (dependenciesCurrent() && buildCurrent()) return;
  const flock = ['/usr/bin/flock', '/bin/flock'].find(existsSync);
  if (!flock) {
    ensureDependencies();
    ensureBuild();
    return;
  }
  // Not in node_modules/ or lib/: npm ci and tsc replace those, and a lock on a replaced file locks nothing.
  mkdirSync(join(root, '.data'), { recursive: true });
  run(flock, [join(root, '.data', 'prepare.lock'), process.execPath, fileURLToPath(import.meta.url), '--prepare']);
}

checkNode();
const [command, ...args] = process.argv.slice(2);
if (command === '--prepare') {
  ensureDependencies();
  ensureBuild();
  process.exit(0);
}
const entry = entries[command];
if (!entry) fail(`Unknown command "${command}"; one of: ${Object.keys(entries).join(', ')}.`);
prepare();
process.chdir(root);
process.argv = [process.argv[0], join(root, entry), ...args];
await import(pathToFileURL(join(root, entry)).href);
