/**
 * The commands provisioning runs (mvn, go, apt-get, dpkg) and how they run side by side. A
 * command runs in a process group of its own, so that it and everything it spawned (go's
 * compilers, apt's download methods, dpkg's scripts) stop together: on an abort (a sibling step
 * failed, or Ctrl-C), and through the guard of the lock it runs under (src/stack/lock.ts) if this
 * process dies. Nothing provisioning starts outlives it.
 */
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import type { Environment } from '../config';
import { CancelledError, InterruptedError, PipelineError } from '../errors';
import { abortOnSignals } from '../process/signals';
import { childEnvironment } from '../process/environment';
import { sleep } from '../process/wait';
import type { HeldLock } from './lock';

/** How long a command may take to stop after SIGTERM before its group is killed. */
const STOP_GRACE_MS = 5_000;

/** A command of provisioning failed; `output` is the end of what it printed. */
export class StepFailedError extends PipelineError {
  override name = 'StepFailedError';
  constructor(
    message: string,
    readonly output: string,
    options: { retriable?: boolean } = {},
  ) {
    super(message, options);
  }
}

export interface StepOptions {
  /** What the command does, for messages ("apt-get update"); the command's name by default. */
  label?: string;
  cwd?: string;
  env?: Environment;
  signal?: AbortSignal;
  /** The lock this command works under: its holder kills the command's group if this process dies. */
  guard?: HeldLock;
  /** Whether a failure with this output is worth another try (another apt-get holding its lock). */
  retriableOutput?: (output: string) => boolean;
}

/**
 * Runs one command with its output shown (on stderr, so that a command's own stdout stays clean)
 * and resolves with the end of that output once it succeeded. A failure rejects with
 * StepFailedError; an abort of `signal` stops the whole group (SIGTERM, then SIGKILL) and rejects
 * with CancelledError once it is gone.
 */
export function runStep(command: string, args: string[], options: StepOptions = {}): Promise<string> {
  const label = options.label ?? basename(command);
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new CancelledError(label, options.signal.reason));
      return;
    }
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: childEnvironment(options.env),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pgid = child.pid;
    if (pgid !== undefined) options.guard?.guard(pgid);
    let output = '';
    const show = (chunk: Buffer) => {
      // Maven resets colours even when told not to use any: noise in a log file.
      const text = process.stderr.isTTY ? chunk.toString() : chunk.toString().replace(/\x1b\[[0-9;]*m/g, '');
      process.stderr.write(text);
      output = (output + text).slice(-8192);
    };
    child.stdout.on('data', show);
    child.stderr.on('data', show);
    const exited = new AbortController();
    const onAbort = () => {
      if (pgid === undefined) return;
      killGroup(pgid, 'SIGTERM');
      sleep(STOP_GRACE_MS, exited.signal).then(
        () => killGroup(pgid, 'SIGKILL'),
        () => undefined,
      );
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('exit', () => {
      exited.abort();
      // Whatever the command left of its group (a compiler, a download method) goes with it.
      if (pgid !== undefined) killGroup(pgid, 'SIGKILL');
    });
    child.on('error', (err) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (pgid !== undefined) options.guard?.unguard(pgid);
      reject(new StepFailedError(`Could not run ${command}: ${err.message}.`, ''));
    });
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (pgid !== undefined) options.guard?.unguard(pgid);
      if (options.signal?.aborted) reject(new CancelledError(label, options.signal.reason));
      else if (code === 0) resolve(output);
      else {
        const last = output.trim().split('\n').pop()?.trim();
        reject(
          new StepFailedError(`${label} failed (${signal ?? `exit code ${code}`})${last ? `: ${last}` : ''}.`, output, {
            retriable: options.retriableOutput?.(output) ?? false,
          }),
        );
      }
    });
  });
}

/**
 * Runs provisioning tasks side by side. The first failure aborts the others, which stop their
 * commands and clean up; this settles only once every task has, so nothing keeps running behind
 * a failure. Rejects with the first failure; an abort of `signal` aborts them all.
 */
export async function allOrAbort(tasks: ((signal: AbortSignal) => Promise<unknown>)[], signal?: AbortSignal): Promise<void> {
  const controller = new AbortController();
  const forward = () => controller.abort(signal?.reason);
  if (signal?.aborted) forward();
  else signal?.addEventListener('abort', forward, { once: true });
  let first: { error: unknown } | undefined;
  try {
    await Promise.all(
      tasks.map(async (task) => {
        try {
          await task(controller.signal);
        } catch (error) {
          first ??= { error };
          controller.abort(error);
        }
      }),
    );
  } finally {
    signal?.removeEventListener('abort', forward);
  }
  if (first) throw first.error;
}

/**
 * Runs provisioning that Ctrl-C stops in order (see abortOnSignals): its commands stop, its
 * staging folders go, its locks are released, and the interruption is told in one sentence.
 */
export async function interruptible<T>(what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  try {
    return await abortOnSignals(work);
  } catch (err) {
    // The abort's reason is the signal's name; what was cancelled by it carries it as its cause.
    if (err instanceof CancelledError && typeof err.cause === 'string') {
      throw new InterruptedError(err.cause, `${what} was interrupted by ${err.cause}; nothing it started still runs, and the next run takes it up again.`, err);
    }
    throw err;
  }
}

/** Signals a whole process group; a group already gone is fine. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* already gone */
  }
}
