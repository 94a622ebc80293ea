#!/usr/bin/env node
// Entry point of every npm script: on a fresh clone it installs the dependencies and builds
// the TypeScript once, then runs the command's compiled module in this same process (so that
// signals reach it directly). Plain Node on purpose: nothing is installed when this runs.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
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

function ensureDependencies() {
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (mtime(installed) >= mtime(join(root, 'package-lock.json'))) return;
  process.stderr.write('Installing dependencies (npm ci)…\n');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
}

function ensureBuild() {
  const stamp = join(root, 'lib', '.buildstamp');
  const sources = Math.max(newestIn(join(root, 'src')), newestIn(join(root, 'test')), mtime(join(root, 'tsconfig.json')), mtime(join(root, 'package-lock.json')));
  if (mtime(stamp) >= sources) return;
  process.stderr.write('Building (tsc, workflow bundle)…\n');
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  // The Redis scripts, and the workflow bundle prebuilt so that workers need not load webpack.
  run(process.execPath, [join(root, 'lib', 'src', 'build', 'post-compile.js')]);
  writeFileSync(stamp, new Date().toISOString());
}

checkNode();
const [command, ...args] = process.argv.slice(2);
const entry = entries[command];
if (!entry) fail(`Unknown command "${command}"; one of: ${Object.keys(entries).join(', ')}.`);
ensureDependencies();
ensureBuild();
process.chdir(root);
process.argv = [process.argv[0], join(root, entry), ...args];
await import(pathToFileURL(join(root, entry)).href);
