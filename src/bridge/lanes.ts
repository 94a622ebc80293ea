/**
 * A bridge's lanes (docs/design.md, "Lanes"): BRIDGE_MAX_IN_FLIGHT serial streams of batches,
 * each with at most one batch in flight. A lane's next batch is cut only once its last one
 * completed, so a lane's batches publish in order and each new one fences what is left of the
 * one before (src/clients/transactions.ts). A run of a lane's batch that ends other than
 * completed is re-driven (src/bridge/redrive.ts) before the lane takes another batch.
 *
 * Lanes belong to one run of the bridge: their ids hold the run's id, so a restarted bridge never
 * shares a lane with the batches its earlier run left in flight.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { laneId, type BatchSpec, type Lane } from '../domain/batch';
import type { BatchResult } from '../domain/types';
import type { Logger } from '../log';
import type { BridgeMetrics } from '../metrics';
import { retry } from '../process/retry';
import type { BatchHandle, HandOffTarget } from './handoff';
import { failureOf, redrive } from './redrive';

interface LaneState {
  index: number;
  seq: number;
  /** The batch in flight, and when it was started. */
  busy?: { spec: BatchSpec; startedAt: number };
}

export class Lanes {
  private readonly lanes: LaneState[];
  private readonly stopped = new AbortController();

  constructor(
    count: number,
    private readonly identity: { groupId: string; topic: string; runId: string },
    private readonly target: HandOffTarget,
    private readonly logger: Logger,
    private readonly metrics?: BridgeMetrics,
    /** Told each batch's result as it completes (the circuit breaker counts its dead letters). */
    private readonly onResult?: (result: BatchResult) => void,
  ) {
    this.lanes = Array.from({ length: count }, (_, index) => ({ index, seq: 0 }));
  }

  /** A lane with nothing in flight, with the place its next batch takes; undefined when all are busy. */
  claim(): (Lane & { index: number }) | undefined {
    const lane = this.lanes.find((l) => !l.busy);
    if (!lane) return undefined;
    return { index: lane.index, id: laneId(this.identity.groupId, this.identity.topic, this.identity.runId, lane.index), seq: lane.seq + 1 };
  }

  get inFlight(): number {
    return this.lanes.filter((l) => l.busy).length;
  }

  /**
   * The lane is being handed `spec`: busy, and counted in flight, from now on, so that a batch
   * under way is never missed by whoever waits for none to be in flight (the circuit breaker's
   * pause). started() or release() ends it.
   */
  reserve(index: number, spec: BatchSpec): void {
    this.lanes[index]!.busy = { spec, startedAt: Date.now() };
    this.metrics?.inFlight.set(this.inFlight);
  }

  /** A reserved lane whose hand-off failed before its batch started: free again, its seq unused. */
  release(index: number): void {
    this.lanes[index]!.busy = undefined;
    this.metrics?.inFlight.set(this.inFlight);
  }

  /** The lane's batch `seq` was started (or voided): the lane follows it to its end. */
  started(index: number, spec: BatchSpec, handle: BatchHandle | undefined): void {
    const lane = this.lanes[index]!;
    lane.seq = spec.lane.seq;
    if (!handle) return this.release(index);
    lane.busy = { spec, startedAt: Date.now() };
    this.metrics?.inFlight.set(this.inFlight);
    void this.follow(lane, handle.workflowId, handle).finally(() => {
      lane.busy = undefined;
      this.metrics?.inFlight.set(this.inFlight);
    });
  }

  /** Stops following batches (on shutdown): they go on in Temporal regardless. */
  stop(): void {
    this.stopped.abort();
  }

  /** Follows a run to its end, riding out Temporal outages; re-drives a run that ends badly. */
  private async follow(lane: LaneState, workflowId: string, handle: BatchHandle): Promise<void> {
    const spec = lane.busy!.spec;
    try {
      const outcome = await retry(() => resultOf(handle), {
        initialMs: 1_000,
        maxMs: 15_000,
        signal: this.stopped.signal,
        onRetry: (err, attempt) => {
          if (attempt % 10 === 0) this.logger.warn({ workflowId, err }, 'Waiting for a batch result failed; retrying');
        },
      });
      if ('result' in outcome) {
        this.metrics?.batchLatency.observe((Date.now() - lane.busy!.startedAt) / 1000);
        this.onResult?.(outcome.result);
        return;
      }
      await this.redrive(lane, workflowId, spec, outcome.failure);
    } catch (err) {
      if (!this.stopped.signal.aborted) this.logger.error({ workflowId, err }, 'Stopped following a batch');
    }
  }

  private async redrive(lane: LaneState, workflowId: string, spec: BatchSpec, err: unknown): Promise<void> {
    this.metrics?.batchFailures.inc();
    const failure = failureOf(err);
    if (!failure.redrivable) {
      this.metrics?.batchesSuperseded.inc();
      this.logger.warn({ workflowId, failure: failure.sentence }, 'A batch was cut from a partition that has since been recreated or reset; it is not re-driven');
      return;
    }
    const next = await retry(() => redrive(this.target, workflowId, spec, failure.sentence), { initialMs: 1_000, maxMs: 15_000, signal: this.stopped.signal });
    if (!next) {
      this.metrics?.batchesAbandoned.inc();
      this.logger.error({ workflowId, failure: failure.sentence }, 'The dead-letter run of a batch was ended by hand: its unpublished records are neither published nor dead-lettered');
      return;
    }
    this.metrics?.batchesRedriven.inc();
    this.logger.warn({ failed: workflowId, next: next.workflowId, failure: failure.sentence }, 'A batch run ended other than completed; re-driving it');
    await this.follow(lane, next.workflowId, next.handle);
  }
}

type RunOutcome = { result: BatchResult } | { failure: unknown };

/** The run's result or its failure; throws only when Temporal could not be asked (retried). */
async function resultOf(handle: BatchHandle): Promise<RunOutcome> {
  try {
    return { result: await handle.result() };
  } catch (err) {
    if (err instanceof WorkflowFailedError) return { failure: err };
    throw err;
  }
}
