/**
 * kafkajs 2.2.4 keeps every broker connection checking its queue of pending requests every
 * millisecond, for as long as the connection is open, pending requests or not
 * (src/network/requestQueue/index.js, `scheduleCheckPendingRequests`: with no throttling its
 * delay is `-1 - Date.now()`, which Node runs as 1 ms; kafkajs issues #1556 and #1704, unfixed
 * upstream). Each process of ours holds several connections (a bridge's consumer, admin and
 * cluster; an engine's lane producers and reader), so an idle bridge spent 0.07 cores and an
 * idle engine 0.03 on these timers, and a busy one gives them its event loop between records.
 *
 * In its place: a check is scheduled only when it can do something, that is while requests wait
 * (in 10 ms, or when the broker's throttling ends) or while throttling lasts. A request that
 * cannot be sent at once is queued and schedules its check (push), and a response or a timeout
 * checks the queue again, as before; only the checks that found nothing to do are gone.
 *
 * A prototype method, so that loading order does not matter: every queue made before or after
 * uses it from its next check on. The entry points of our services install it; the benchmark
 * only once its baseline, kafkajs as users get it, has run.
 */
/* eslint-disable @typescript-eslint/no-require-imports */

/** What this reads and writes of kafkajs's RequestQueue. */
export interface RequestQueueState {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
}

/** kafkajs's CHECK_PENDING_REQUESTS_INTERVAL. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

/** The delay of the queue's next check, or undefined when there is nothing to check. */
export function nextCheckDelay(pending: number, throttledUntil: number, now: number): number | undefined {
  const throttledFor = throttledUntil - now;
  if (pending > 0) return throttledFor > 0 ? throttledFor : CHECK_PENDING_REQUESTS_INTERVAL_MS;
  return throttledFor > 0 ? throttledFor : undefined;
}

/** kafkajs's RequestQueue.scheduleCheckPendingRequests, less the checks with nothing to do. */
export function scheduleCheckPendingRequests(this: RequestQueueState): void {
  if (this.throttleCheckTimeoutId) return;
  const delay = nextCheckDelay(this.pending.length, this.throttledUntil, Date.now());
  if (delay === undefined) return;
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, delay);
}

/** kafkajs's RequestQueue.prototype, loaded on first use. */
function requestQueuePrototype(): { scheduleCheckPendingRequests: unknown } {
  return (require('kafkajs/src/network/requestQueue/index.js') as { prototype: { scheduleCheckPendingRequests: unknown } }).prototype;
}

/** Puts the check above in kafkajs's RequestQueue; idempotent. */
export function installRequestQueueFix(): void {
  requestQueuePrototype().scheduleCheckPendingRequests = scheduleCheckPendingRequests;
}

/** Whether kafkajs in this process checks its queues as above. */
export function requestQueueFixInstalled(): boolean {
  return requestQueuePrototype().scheduleCheckPendingRequests === scheduleCheckPendingRequests;
}
