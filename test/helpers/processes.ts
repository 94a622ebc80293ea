/** The worker and the bridge as real child processes, so that tests can SIGKILL them. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import type { Environment } from '../../src/config';
import { waitFor } from './wait';

const ROOT = resolve(__dirname, '..', '..', '..');
const ENTRIES = {
  worker: 'lib/src/worker/main.js',
  bridge: 'lib/src/bridge/main.js',
  generator: 'lib/src/cli/generate.js',
  dashboard: 'lib/src/dashboard/main.js',
  start: 'scripts/run.mjs',
} as const;
const READY_LINE = { worker: 'Worker running', bridge: 'Bridge running', generator: '', dashboard: 'Dashboard at', start: '' } as const;

export const LOG_DIR = join(ROOT, '.data', 'test-logs');

export class ChildService {
  private child: ChildProcess | undefined;
  private exit: Promise<number | null> | undefined;
  private starts = 0;
  readonly logFile: string;

  constructor(
    readonly kind: keyof typeof ENTRIES,
    private readonly env: Environment,
    readonly name: string,
    private readonly args: string[] = [],
  ) {
    mkdirSync(LOG_DIR, { recursive: true });
    this.logFile = join(LOG_DIR, `${name}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process and waits for its "running" log line (or the line given). */
  async start(timeoutMs = 60_000, readyLine: string = READY_LINE[this.kind]): Promise<void> {
    this.starts++;
    const log = createWriteStream(this.logFile, { flags: 'a' });
    log.write(`--- start #${this.starts} ---\n`);
    const child = spawn(process.execPath, [join(ROOT, ENTRIES[this.kind]), ...this.args], {
      cwd: ROOT,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    this.child = child;
    this.exit = new Promise((resolveExit) => child.on('exit', (code) => resolveExit(code)));
    const ready = readyLine;
    if (!ready) return;
    const startIndex = this.logText().lastIndexOf(`--- start #${this.starts} ---`);
    const exitedEarly = this.exit.then((code) => {
      throw new Error(`${this.name} exited (code ${code}) before logging "${ready}":\n${this.tail()}`);
    });
    const ready$ = waitFor(() => this.logText().indexOf(ready, startIndex) >= 0, {
      timeoutMs,
      message: () => `${this.name} to log "${ready}"\n${this.tail()}`,
    });
    exitedEarly.catch(() => undefined);
    await Promise.race([ready$, exitedEarly]);
  }

  /** Sends a signal and waits for the exit; resolves to the exit code (null when killed by the signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child!.kill(signal);
    const code = await Promise.race([
      this.exit!,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms of ${signal}`)), timeoutMs)),
    ]);
    return code;
  }

  async waitForExit(): Promise<number | null> {
    return this.exit ?? null;
  }

  /** Waits until the log of the current start holds `text`. */
  async waitForLog(text: string | RegExp, timeoutMs = 60_000): Promise<void> {
    const startIndex = this.logText().lastIndexOf(`--- start #${this.starts} ---`);
    const found = () => {
      const since = this.logText().slice(startIndex);
      return typeof text === 'string' ? since.includes(text) : text.test(since);
    };
    await waitFor(found, { timeoutMs, message: () => `${this.name} to log ${String(text)}\n${this.tail()}` });
  }

  logText(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  tail(lines = 20): string {
    return this.logText().trimEnd().split('\n').slice(-lines).join('\n');
  }
}

/** Stops every service still running (for `after` hooks), quickly. */
export async function stopAll(services: ChildService[]): Promise<void> {
  await Promise.all(services.map((s) => s.stop('SIGKILL').catch(() => undefined)));
}

/** A service's /readyz, at the port its log says it serves on. */
export async function readiness(service: ChildService): Promise<{ status: number; checks: Record<string, boolean> }> {
  const port = /"port":(\d+)[^\n]*"msg":"(Serving \/metrics|Dashboard at)/.exec(service.logText())?.[1];
  assert.ok(port, `${service.name} logs its port`);
  const response = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: response.status, checks: ((await response.json()) as { checks: Record<string, boolean> }).checks };
}
