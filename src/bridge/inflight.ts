/**
 * Batches started and not yet finished, bounded: the bridge waits for room before it hands off
 * another batch, and pauses its partitions meanwhile so that Kafka, not Temporal, holds the
 * backlog.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchResult } from '../domain/types';
import type { Logger } from '../log';
import type { BridgeMetrics } from '../metrics';

export interface InFlightListener {
  onFull(): void;
  onRoom(): void;
  onCompleted(result: BatchResult, seconds: number): void;
}

export class InFlight {
  private readonly running = new Map<string, Promise<void>>();
  private waiters: (() => void)[] = [];
  private full = false;

  constructor(
    private readonly max: number,
    private readonly logger: Logger,
    private readonly listener: InFlightListener,
    private readonly metrics?: BridgeMetrics,
  ) {}

  get size(): number {
    return this.running.size;
  }

  /** Follows a started batch to its end. An adopted batch already followed is not counted twice. */
  track(workflowId: string, handle: WorkflowHandle): void {
    if (this.running.has(workflowId)) return;
    const started = Date.now();
    const followed = this.awaitResult(workflowId, handle)
      .then((result) => {
        if (result) this.listener.onCompleted(result, (Date.now() - started) / 1000);
      })
      .finally(() => {
        this.running.delete(workflowId);
        this.changed();
      });
    this.running.set(workflowId, followed);
    this.changed();
  }

  /** The result, riding out a Temporal outage; undefined when the workflow did not complete. */
  private async awaitResult(workflowId: string, handle: WorkflowHandle): Promise<BatchResult | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return (await handle.result()) as BatchResult;
      } catch (err) {
        if (err instanceof WorkflowFailedError) {
          this.metrics?.batchFailures.inc();
          this.logger.error(
            { workflowId, err: err.cause?.message ?? err.message },
            'Batch workflow did not complete: its records need an operator (reset or re-drive the workflow)',
          );
          return undefined;
        }
        if (this.closed) return undefined;
        if (attempt % 10 === 0) this.logger.warn({ workflowId, err: (err as Error).message }, 'Waiting for a batch result failed; retrying');
        await sleep(Math.min(1000 * 2 ** Math.min(attempt, 5), 15_000));
      }
    }
  }

  private closed = false;

  /** Stops following results (on shutdown): the workflows go on in Temporal regardless. */
  close(): void {
    this.closed = true;
  }

  /** Waits until fewer than `max` batches are in flight; `tick` runs about once a second meanwhile. */
  async waitForRoom(shouldStop: () => boolean, tick: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.max && !shouldStop()) {
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), sleep(1000)]);
      await tick();
    }
  }

  private changed(): void {
    this.metrics?.inFlight.set(this.running.size);
    const full = this.running.size >= this.max;
    if (full && !this.full) this.listener.onFull();
    if (!full && this.full) this.listener.onRoom();
    this.full = full;
    if (!full) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }
}
