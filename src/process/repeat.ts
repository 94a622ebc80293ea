/**
 * Work done again and again for a process's life (the bridge's tick, a periodic sweep): every
 * `intervalMs` while it succeeds (or after the pause a run returns, when it knows better), backing
 * off while it fails, until `signal` aborts. One loop for every such cadence, as retry.ts is one
 * loop for every retry.
 */
import { CancelledError } from '../errors';
import { backoffDelay, type BackoffOptions } from './retry';
import { sleep } from './wait';

export interface RepeatOptions {
  intervalMs: number;
  signal: AbortSignal;
  backoff?: BackoffOptions;
  /** A failure that ends the repetition: the returned promise rejects with it. */
  isFatal?: (err: unknown) => boolean;
  /** Told of each failure, with how many in a row (1 for the first). */
  onError?: (err: unknown, failures: number) => void;
  /** Told when a success follows failures. */
  onRecovered?: () => void;
}

/** Resolves when `signal` aborts; rejects with a fatal failure. */
export async function repeat(task: () => Promise<number | void>, options: RepeatOptions): Promise<void> {
  let failures = 0;
  while (!options.signal.aborted) {
    let next: number | void = undefined;
    try {
      next = await task();
      if (failures > 0) options.onRecovered?.();
      failures = 0;
    } catch (err) {
      if (options.isFatal?.(err)) throw err;
      failures++;
      options.onError?.(err, failures);
    }
    const pause = failures > 0 ? backoffDelay(failures - 1, options.backoff) : (next ?? options.intervalMs);
    await sleep(pause, options.signal).catch((err: unknown) => {
      if (!(err instanceof CancelledError)) throw err;
    });
  }
}
