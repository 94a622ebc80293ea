/**
 * The worker's engines (src/worker/engine.ts), seen from the worker: each batch goes to the engine
 * with the fewest records still to read, its lane staying where it was unless its engine is a
 * chunk or more behind (a lane's transactional producer is then not fenced back and forth); an
 * attempt's cancellation follows it; an engine that dies fails its calls (Temporal retries them)
 * and is started again.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { AggregatorRegistry } from 'prom-client';
import { offsetCount, type BatchSpec } from '../domain/batch';
import type { LegacyBatchMeta } from '../domain/blob';
import { outputTraceparent } from '../clients/tracing';
import { PipelineError } from '../errors';
import type { Logger } from '../log';
import { SERVICE_SEMI_SPACE_MB } from '../process/environment';
import { backoffDelay } from '../process/retry';
import { sleep } from '../process/wait';
import type { EngineOperation, EngineReply, EngineRequest, SerializedFailure } from './engine';

const ENGINE_ENTRY = join(__dirname, 'engine.js');
/**
 * An engine's old generation starts at this many MB, not at V8's few: a batch's chunks outlive
 * many young collections, and an engine whose old generation starts small runs a full collection
 * each time it grows, most of them in its first seconds of work. Measured with the benchmark at
 * 100,000 records: the engines' CPU fell by a fifth (3.1 to 2.4 CPU-seconds) and the run went
 * about 15% faster; the worker's peak RSS, engines included, stayed at 180 MB (at 128 it rose to
 * 203, at 192 to 267).
 */
const ENGINE_INITIAL_OLD_SPACE_MB = 96;
/** A key unused this long is forgotten: its bridge has moved on to other lanes. */
const AFFINITY_IDLE_MS = 5 * 60_000;
/**
 * A lane moves to another engine only when its own has at least this many more records to finish:
 * about half a 1 MiB chunk of generator records (an engine's count falls a chunk at a time). Below
 * it a move would not pay for itself: it costs the new engine a producer's initialisation. At a
 * steady rate batches are smaller than this, so lanes stay put.
 */
export const MOVE_MARGIN_RECORDS = 2_000;

/** An engine's call could not complete because the engine went away; Temporal retries the attempt. */
export class EngineGoneError extends PipelineError {
  override name = 'EngineGoneError';
}

/** What the calls under way in an engine have left to do. */
interface Load {
  /** Batches and summaries (calls, not questions). */
  working: number;
  /** Records their batches have still to finish: offsets given, less the records of chunks done. */
  unfinished: number;
}

interface Engine extends Load {
  index: number;
  child: ChildProcess;
  ready: Promise<void>;
  calls: Map<number, { resolve: (value: unknown) => void; reject: (err: unknown) => void; left: { records: number } }>;
  restarts: number;
}

export class EnginePool {
  private readonly engines: Engine[] = [];
  /** Which engine each key's calls go to now, and when it was last used (see engineFor). */
  private readonly affinities = new Map<string, { engine: number; lastUsedMs: number }>();
  private nextId = 0;
  private laneMoves = 0;
  private closing = false;

  constructor(
    size: number,
    private readonly logger: Logger,
  ) {
    for (let index = 0; index < size; index++) this.engines.push(this.start(index, 0));
  }

  /** Resolves once every engine has its clients and answers. */
  async ready(): Promise<void> {
    await Promise.all(this.engines.map((e) => e.ready));
  }

  /** The activities the worker registers, each run by the engine its key hashes to. */
  activities() {
    return {
      // Keyed by the lane's id, which is its transactional id: the key an engine forgets when the lane moves.
      processRanges: (spec: BatchSpec, processedAtMs: number = spec.cutAtMs) =>
        this.call(spec.lane?.id ?? spec.batchId, 'processRanges', [spec, processedAtMs], { movable: true, records: batchRecords(spec) }),
      handleBatch: (meta: LegacyBatchMeta, blob: Uint8Array, processedAtMs: number) => this.call(meta.batchId, 'handleBatch', [meta, blob, processedAtMs], { movable: false, records: 0 }),
      publishSummary: (tickMs: number, windowSeconds: number) => this.call('summaries', 'publishSummary', [tickMs, windowSeconds], { movable: false, records: 0 }),
    } as const;
  }

  /**
   * The engines' metrics summed into one exposition, with `own` (the worker process's, as JSON)
   * added: counters add up; each metric's `aggregator` says otherwise.
   */
  async metrics(own: object[] = []): Promise<string> {
    const jsons = await Promise.all(this.engines.map((e) => this.ask<object[]>(e, 'metrics').catch(() => [])));
    const registry = AggregatorRegistry.aggregate([...jsons, own]);
    const text = await registry.metrics();
    const published = (await registry.getSingleMetric('lp_insights_latest_summary_timestamp_seconds')?.get())?.values[0]?.value;
    const age = published ? Date.now() / 1000 - published : Number.NaN;
    return `${text}\n# HELP lp_insights_latest_summary_age_seconds Seconds since this worker last published a summary\n# TYPE lp_insights_latest_summary_age_seconds gauge\nlp_insights_latest_summary_age_seconds ${age}\n${this.laneMetrics()}`;
  }

  /** How many keys (lanes, mostly) each engine holds: the engines' share of the work. */
  private laneMetrics(): string {
    const counts = this.keysPerEngine();
    const lines = counts.map((n, engine) => `lp_worker_engine_lanes{engine="${engine}"} ${n}`);
    return (
      `# HELP lp_worker_engine_lanes Lanes whose batches each engine runs now\n# TYPE lp_worker_engine_lanes gauge\n${lines.join('\n')}\n` +
      `# HELP lp_worker_lane_moves_total Lanes moved to a less busy engine between two of their batches\n# TYPE lp_worker_lane_moves_total counter\nlp_worker_lane_moves_total ${this.laneMoves}\n`
    );
  }

  /** Each dependency true when every engine has it, and the worker itself (`own`). */
  async readiness(own: Record<string, boolean> = {}): Promise<Record<string, boolean>> {
    const answers = await Promise.all(this.engines.map((e) => this.ask<Record<string, boolean>>(e, 'readiness').catch(() => ({ engines: false }))));
    const checks: Record<string, boolean> = {};
    for (const answer of [own, ...answers]) for (const [name, ok] of Object.entries(answer)) checks[name] = (checks[name] ?? true) && ok;
    return checks;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.engines.map((e) => {
        if (e.child.exitCode !== null || e.child.signalCode !== null) return undefined;
        const exited = new Promise((resolve) => e.child.once('exit', resolve));
        e.child.kill('SIGTERM');
        return exited;
      }),
    );
  }

  private start(index: number, restarts: number): Engine {
    const child = fork(ENGINE_ENTRY, [], {
      env: { ...process.env, WORKER_PROCESS_INDEX: String(index) },
      // The young generation starts at its full size, not at V8's 1 MB grown collection by
      // collection, in which a new engine's first batches collected their chunks' records
      // (docs/benchmark-history.md, 2026-11-27 16:30).
      execArgv: [...process.execArgv, `--initial-old-space-size=${ENGINE_INITIAL_OLD_SPACE_MB}`, `--min-semi-space-size=${SERVICE_SEMI_SPACE_MB}`],
      // Structured clone: a first hand-off batch's records blob (a Uint8Array) crosses as it is.
      serialization: 'advanced',
      stdio: 'inherit',
      // Its own process group: a terminal's Ctrl-C (or a signal to the worker's group) reaches the
      // worker alone, which drains its activities before it stops the engines that run them.
      detached: true,
    });
    let markReady: () => void = () => undefined;
    let markFailed: (err: unknown) => void = () => undefined;
    const engine: Engine = {
      index,
      child,
      ready: new Promise<void>((resolve, reject) => ((markReady = resolve), (markFailed = reject))),
      calls: new Map(),
      working: 0,
      unfinished: 0,
      restarts,
    };
    engine.ready.catch(() => undefined);
    // A send to an engine that has just exited fails its call (below); this only keeps the event handled.
    child.on('error', (err) => this.logger.warn({ err, engine: index }, 'A worker engine could not be reached'));
    child.on('message', (reply: EngineReply) => {
      if (reply.type === 'ready') return markReady();
      const pending = engine.calls.get(reply.id);
      if (!pending) return;
      if (reply.type === 'progress') return finishSome(engine, pending.left, reply.records);
      engine.calls.delete(reply.id);
      if (reply.type === 'result') pending.resolve(reply.value);
      else pending.reject(deserializeFailure(reply.failure));
    });
    child.on('exit', (code, signal) => {
      const gone = new EngineGoneError(`Worker engine ${index} exited (${signal ?? `code ${code}`}) during the call.`, { retriable: true });
      for (const pending of engine.calls.values()) pending.reject(gone);
      engine.calls.clear();
      markFailed(gone);
      if (!this.closing) void this.restart(engine, code, signal);
    });
    return engine;
  }

  private async restart(engine: Engine, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const delayMs = backoffDelay(engine.restarts, { initialMs: 1_000, maxMs: 30_000 });
    this.logger.warn({ engine: engine.index, code, signal, restartInMs: delayMs }, 'A worker engine exited; starting it again');
    await sleep(delayMs);
    if (!this.closing) this.engines[engine.index] = this.start(engine.index, engine.restarts + 1);
  }

  /**
   * The engine of a key (a lane): see placeCall. A lane runs one batch at a time, so it moves
   * between its calls: its old engine drops the lane's producer, and the new one's fences whatever
   * of it was left (an attempt that timed out and still runs there included), as a retry's does.
   * (A hash of the key put 5 of a bridge's 8 lanes on one engine; fixed places, or counting calls
   * rather than records, left an engine idle while the other finished the last batches of an input.)
   */
  private engineFor(key: string, movable: boolean): Engine {
    const now = Date.now();
    const affinity = this.affinities.get(key);
    if (!affinity) this.forgetIdleKeys(now);
    const keys = this.keysPerEngine();
    const chosen = placeCall(
      this.engines.map((e, i) => ({ working: e.working, unfinished: e.unfinished, keys: keys[i]! })),
      affinity?.engine,
      movable,
    );
    if (!affinity) {
      this.affinities.set(key, { engine: chosen, lastUsedMs: now });
    } else {
      if (chosen !== affinity.engine) {
        this.send(this.engines[affinity.engine]!, { type: 'forget', key });
        affinity.engine = chosen;
        this.laneMoves++;
      }
      affinity.lastUsedMs = now;
    }
    return this.engines[chosen]!;
  }

  private keysPerEngine(): number[] {
    const counts = this.engines.map(() => 0);
    for (const { engine } of this.affinities.values()) counts[engine]!++;
    return counts;
  }

  private forgetIdleKeys(now: number): void {
    for (const [key, { lastUsedMs }] of this.affinities) if (now - lastUsedMs > AFFINITY_IDLE_MS) this.affinities.delete(key);
  }

  /**
   * `movable`: whether the key is the transactional id of the producer its calls use, so that the
   * key can move to another engine (which forgets it by that id); a summary's or a first
   * hand-off batch's key is not, and stays where it was first put.
   */
  private async call(key: string, op: EngineOperation, args: unknown[], options: { movable: boolean; records: number }): Promise<never> {
    const engine = this.engineFor(key, options.movable);
    const left = { records: options.records };
    engine.working++;
    engine.unfinished += left.records;
    try {
      return await this.callOn(engine, op, args, left);
    } finally {
      engine.working--;
      finishSome(engine, left, left.records);
    }
  }

  private async callOn(engine: Engine, op: EngineOperation, args: unknown[], left: { records: number }): Promise<never> {
    await engine.ready;
    const signal = currentCancellation();
    const id = this.nextId++;
    const result = new Promise<never>((resolve, reject) => engine.calls.set(id, { resolve: resolve as (value: unknown) => void, reject, left }));
    const cancel = () => this.send(engine, { type: 'cancel', id });
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      this.send(engine, { type: 'call', id, op, args, traceparent: outputTraceparent() });
      return await result;
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }

  private async ask<T>(engine: Engine, type: 'metrics' | 'readiness'): Promise<T> {
    await engine.ready;
    const id = this.nextId++;
    const answer = new Promise<T>((resolve, reject) => engine.calls.set(id, { resolve: resolve as (value: unknown) => void, reject, left: { records: 0 } }));
    this.send(engine, { type, id });
    return answer;
  }

  /**
   * Sends a request; when the engine has gone (exited between its choice and the send, or being
   * restarted), the call waiting on the request fails as retriable instead of waiting forever.
   */
  private send(engine: Engine, request: EngineRequest): void {
    const fail = () => {
      if (!('id' in request)) return;
      const pending = engine.calls.get(request.id);
      engine.calls.delete(request.id);
      pending?.reject(new EngineGoneError(`Worker engine ${engine.index} is not running; the call is retried.`, { retriable: true }));
    };
    if (!engine.child.connected) return fail();
    engine.child.send(request, (err) => {
      if (err) fail();
    });
  }
}

/**
 * The engine a call goes to, by index: the one with the fewest records left to finish (then the
 * fewest calls, then the fewest keys). A key that has an engine (`current`) stays there, unless
 * it may move and its engine has MOVE_MARGIN_RECORDS more to finish than that one.
 */
export function placeCall(engines: readonly (Load & { keys: number })[], current: number | undefined, movable: boolean): number {
  const lighter = (a: Load & { keys: number }, b: Load & { keys: number }) => a.unfinished - b.unfinished || a.working - b.working || a.keys - b.keys;
  let idlest = 0;
  for (let i = 1; i < engines.length; i++) if (lighter(engines[i]!, engines[idlest]!) < 0) idlest = i;
  if (current === undefined || current >= engines.length) return idlest;
  if (!movable || engines[current]!.unfinished <= engines[idlest]!.unfinished + MOVE_MARGIN_RECORDS) return current;
  return idlest;
}

/** A batch's records to read, as far as its offsets tell: none for a void or malformed one (its engine refuses it). */
function batchRecords(spec: BatchSpec): number {
  try {
    return spec.void ? 0 : Math.max(0, offsetCount(spec.ranges));
  } catch {
    return 0;
  }
}

/** `records` of a call's batch are done (or no longer will be: the call ended). */
function finishSome(engine: Load, left: { records: number }, records: number): void {
  const done = Math.min(records, left.records);
  left.records -= done;
  engine.unfinished -= done;
}

/** The running activity's cancellation, when called from an activity. */
function currentCancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

function deserializeFailure(failure: SerializedFailure): Error {
  if (failure.application) return ApplicationFailure.create({ message: failure.message, type: failure.application.type, nonRetryable: failure.application.nonRetryable });
  const error = new PipelineError(failure.message, { retriable: true });
  error.name = failure.name;
  return error;
}

