/**
 * kafkajs's request queue with the check of src/clients/kafkajs-request-queue.ts: no timer while
 * nothing waits, and every request that waits is still sent, after a response or a throttle.
 */
import assert from 'node:assert/strict';
import { installRequestQueueFix, nextCheckDelay, requestQueueFixInstalled, scheduleCheckPendingRequests } from '../../src/clients/kafkajs-request-queue';
import { waitUntil } from '../../src/process/wait';

/* eslint-disable @typescript-eslint/no-require-imports */
type Queue = {
  push(request: object): void;
  fulfillRequest(response: { correlationId: number; payload: null; size: number }): void;
  maybeThrottle(ms: number): void;
  destroy(): void;
  pending: unknown[];
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  scheduleCheckPendingRequests: () => void;
};
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { new (options: object): Queue; prototype: Queue };
/* eslint-enable @typescript-eslint/no-require-imports */

const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const kafkajsOwn = RequestQueue.prototype.scheduleCheckPendingRequests;

function queue(options: { fixed: boolean; maxInFlightRequests?: number }): Queue {
  const q = new RequestQueue({ maxInFlightRequests: options.maxInFlightRequests ?? null, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'test', broker: 'b:9092', logger });
  if (options.fixed) q.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
  return q;
}

/** A request whose sending is recorded; it resolves when its response comes. */
function request(correlationId: number, sent: number[]): object {
  const entry = { correlationId, apiKey: 3, apiName: 'Metadata', apiVersion: 6, resolve: () => undefined, reject: () => undefined };
  return { entry, expectResponse: true, sendRequest: () => sent.push(correlationId) };
}

describe('kafkajs request queue check', () => {
  const made: Queue[] = [];
  const track = (q: Queue) => (made.push(q), q);
  afterEach(() => made.splice(0).forEach((q) => q.destroy()));
  after(() => (RequestQueue.prototype.scheduleCheckPendingRequests = kafkajsOwn));

  it('kafkajs 2.2.4 keeps a timer going after a response with nothing pending (the bug)', () => {
    assert.notEqual(kafkajsOwn, scheduleCheckPendingRequests, 'no test installed the fix globally');
    const sent: number[] = [];
    const q = track(queue({ fixed: false }));
    q.push(request(1, sent));
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    assert.notEqual(q.throttleCheckTimeoutId, null);
  });

  it('schedules nothing once a response leaves nothing pending', () => {
    const sent: number[] = [];
    const q = track(queue({ fixed: true }));
    q.push(request(1, sent));
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    assert.deepEqual(sent, [1]);
    assert.equal(q.throttleCheckTimeoutId, null);
  });

  it('sends a request waiting for an in-flight slot when the response comes, and stops checking after its own check', async () => {
    const sent: number[] = [];
    const q = track(queue({ fixed: true, maxInFlightRequests: 1 }));
    q.push(request(1, sent));
    q.push(request(2, sent));
    assert.deepEqual(sent, [1]);
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    assert.deepEqual(sent, [1, 2]);
    q.fulfillRequest({ correlationId: 2, payload: null, size: 0 });
    // The check the waiting request scheduled still runs once, and finds nothing to do.
    await waitUntil(() => q.throttleCheckTimeoutId === null, { timeoutMs: 2_000, intervalMs: 5, message: 'the queue to stop checking' });
  });

  it('sends a request held by the broker’s throttling once it ends, then stops checking', async () => {
    const sent: number[] = [];
    const q = track(queue({ fixed: true }));
    q.maybeThrottle(40);
    q.push(request(1, sent));
    assert.deepEqual(sent, []);
    await waitUntil(() => sent.length === 1, { timeoutMs: 2_000, intervalMs: 5, message: 'the throttled request to be sent' });
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    assert.equal(q.throttleCheckTimeoutId, null);
  });

  it('checks in 10 ms while requests wait, at the throttle’s end while it lasts, and not otherwise', () => {
    assert.equal(nextCheckDelay(2, -1, 1_000), 10);
    assert.equal(nextCheckDelay(2, 1_050, 1_000), 50);
    assert.equal(nextCheckDelay(0, 1_050, 1_000), 50);
    assert.equal(nextCheckDelay(0, -1, 1_000), undefined);
    assert.equal(nextCheckDelay(0, 1_000, 1_000), undefined);
  });

  it('is installed for every queue, made before or after', () => {
    const before = track(queue({ fixed: false }));
    installRequestQueueFix();
    assert.equal(requestQueueFixInstalled(), true);
    const sent: number[] = [];
    for (const [i, q] of [before, track(queue({ fixed: false }))].entries()) {
      q.push(request(i, sent));
      q.fulfillRequest({ correlationId: i, payload: null, size: 0 });
      assert.equal(q.throttleCheckTimeoutId, null);
    }
  });
});
