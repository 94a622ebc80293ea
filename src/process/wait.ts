/**
 * Waiting: for a time, for a condition with a deadline, for a promise with a deadline. The one
 * place the product polls; studied against kafkajs's testHelpers `waitFor`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { CancelledError, DeadlineExceededError } from '../errors';

/**
 * Resolves after `ms`, or rejects with CancelledError when `signal` aborts first. The timer keeps
 * the process alive, as the code awaiting it expects: a process with nothing else pending exits
 * in the middle of an unreferenced wait, silently and with code 0 (`stack:down` stopped after its
 * first SIGTERM). `ref: false` is for a timer that only bounds something else (withDeadline's).
 */
export async function sleep(ms: number, signal?: AbortSignal, options: { ref?: boolean } = {}): Promise<void> {
  try {
    await delay(Math.max(0, ms), undefined, { ref: options.ref ?? true, signal });
  } catch (err) {
    if (signal?.aborted) throw new CancelledError('A wait', signal.reason);
    throw err;
  }
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** What was awaited, for the error: "Timed out after N ms waiting for <message>". */
  message: string | (() => string);
  signal?: AbortSignal;
}

/**
 * Polls `check` until it returns a truthy value, and returns that value; throws
 * DeadlineExceededError (naming the last error `check` threw, if any) when the deadline passes.
 */
export async function waitUntil<T>(check: () => T | Promise<T>, options: WaitOptions): Promise<NonNullable<T>> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const message = typeof options.message === 'function' ? options.message() : options.message;
      const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new DeadlineExceededError(`Timed out after ${options.timeoutMs} ms waiting for ${message}${suffix}`, lastError);
    }
    await sleep(Math.min(options.intervalMs ?? 200, Math.max(0, deadline - Date.now())), options.signal);
  }
}

/** Like waitUntil, but answers false instead of throwing when the deadline passes. */
export async function becomesTrue(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<boolean> {
  try {
    await waitUntil(() => check().catch(() => false), { timeoutMs, intervalMs, message: 'a condition' });
    return true;
  } catch (err) {
    if (err instanceof DeadlineExceededError) return false;
    throw err;
  }
}

/** The promise's value, or DeadlineExceededError when it takes longer than `ms`. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const timeout = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(ms, timeout.signal, { ref: false }).then(() => {
        throw new DeadlineExceededError(`${what} took longer than ${ms} ms`);
      }),
    ]);
  } finally {
    timeout.abort();
  }
}
