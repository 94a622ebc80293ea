/** One of our one-shot commands (`npm run dlq`, `npm run reconcile`, …) as a child process, as an operator runs it. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Environment } from '../../src/config';

const ROOT = resolve(__dirname, '..', '..', '..');

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** lib/src/cli/<name>.js, or lib/src/<name>.js for a name with a folder (`bridge/main` for `npm run bridge`). */
function entry(name: string): string {
  return name.includes('/') ? join(ROOT, 'lib', 'src', `${name}.js`) : join(ROOT, 'lib', 'src', 'cli', `${name}.js`);
}

/** Runs the command `name` (see entry) with `args` in the test's environment; never rejects on a non-zero exit. */
export function runCommand(name: string, args: string[], env: Environment, timeoutMs = 120_000): Promise<CommandResult> {
  return new Promise((resolveResult, reject) => {
    execFile(
      process.execPath,
      [entry(name), ...args],
      { cwd: ROOT, env: { ...process.env, ...env, LOG_FORMAT: 'json' }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(new Error(`${name} ${args.join(' ')} did not finish: ${err.message}\n${stderr}`));
        resolveResult({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** The JSON object on the last line of a command's stdout. */
export function lastJson<T>(result: CommandResult): T {
  const line = result.stdout.trimEnd().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`no JSON on the last line (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** A command started in the background, for tests that kill it midway. */
export interface RunningCommand {
  child: ChildProcess;
  /** Settles when it exits, with its code (null when a signal ended it) and output. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

export function startCommand(name: string, args: string[], env: Environment): RunningCommand {
  const child = spawn(process.execPath, [entry(name), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolveDone) =>
    child.on('exit', (code, signal) => resolveDone({ code, signal, stdout, stderr })),
  );
  return { child, done };
}
