/**
 * Retrying with exponential backoff and jitter, after kafkajs's `retry`: the delay doubles from
 * `initialMs` up to `maxMs`, each one randomised by ±`jitter` so that many clients recovering
 * from one outage do not retry in step. The one retry loop of the product.
 */
import { CancelledError, isRetriable } from '../errors';
import { sleep } from './wait';

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  multiplier?: number;
  /** Randomisation factor: 0.2 gives delays within ±20% of the nominal one. */
  jitter?: number;
}

export interface RetryOptions extends BackoffOptions {
  /** Retries after the first try; Infinity retries until it works or `signal` aborts. */
  retries?: number;
  signal?: AbortSignal;
  /** Which errors are worth another try; by default those `isRetriable` says so of. */
  retriable?: (err: unknown) => boolean;
  /** Told of each failure that will be retried, with the delay before the next try. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

const DEFAULTS = { initialMs: 300, maxMs: 30_000, multiplier: 2, jitter: 0.2 } as const;

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const { initialMs, maxMs, multiplier, jitter } = { ...DEFAULTS, ...options };
  const nominal = Math.min(maxMs, initialMs * multiplier ** Math.min(attempt, 64));
  const randomised = nominal * (1 - jitter + Math.random() * 2 * jitter);
  return Math.round(Math.min(maxMs, randomised));
}

/**
 * Calls `fn` until it resolves. A failure that is not retriable, or the last allowed one, is
 * thrown as it is; an abort of `signal` throws CancelledError.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? Infinity;
  const retriable = options.retriable ?? isRetriable;
  for (let attempt = 0; ; attempt++) {
    if (options.signal?.aborted) throw new CancelledError('A retried operation', options.signal.reason);
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= retries || !retriable(err) || options.signal?.aborted) throw err;
      const delayMs = backoffDelay(attempt, options);
      options.onRetry?.(err, attempt, delayMs);
      await sleep(delayMs, options.signal);
    }
  }
}
