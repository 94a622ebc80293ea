/**
 * A watchdog on a thread of its own, for what a process's event loop cannot see about itself: that
 * the loop no longer turns (a bug that spins on microtasks, or a synchronous loop that never ends),
 * and, for a worker engine, that its parent is gone while the loop is stuck (the IPC channel's
 * 'disconnect' event, which normally ends an orphan, is handled on that loop too).
 *
 * Either way the process is killed: a process whose loop is stuck can run none of its own code, and
 * it holds its batches' lanes while it lives. Killed, its supervisor starts another (the worker its
 * engine, Kubernetes or `npm start` the worker or the bridge), and Temporal retries what it had under
 * way, as after any crash. Before this, two engines whose loops a reader bug had stuck spun at 70%
 * of a core for hours after their worker had stopped.
 *
 * Stalls are counted in the thread's own wake-ups, not in wall time: a process stopped as a whole
 * (SIGSTOP, a suspended machine) has both threads stopped, and is not killed when it resumes.
 */
import { writeSync } from 'node:fs';
import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { procStatFields } from './proc-stat';

export interface WatchdogOptions {
  /** Who is watched, for the one line said before the kill ("worker engine 1"). */
  name: string;
  /** Kill after the event loop has not turned for this long; 0: never. */
  stallSeconds: number;
  /** Exit when this process's parent is no longer this pid (a child process: a worker engine). */
  parentPid?: number;
}

interface WatchData extends WatchdogOptions {
  role: 'watchdog';
  beats: Int32Array;
  beatMs: number;
}

/** How often the loop beats and the thread looks. */
const BEAT_MS = 1000;
/** A parent seen gone this many times in a row: the engine's own 'disconnect' exit has had its chance. */
const ORPHAN_CHECKS = 3;

/** Starts the watchdog, or nothing when it would watch nothing. The thread never keeps the process alive. */
export function startWatchdog(options: WatchdogOptions, beatMs = BEAT_MS): Worker | undefined {
  if (options.stallSeconds <= 0 && options.parentPid === undefined) return undefined;
  const beats = new Int32Array(new SharedArrayBuffer(4));
  setInterval(() => Atomics.add(beats, 0, 1), beatMs).unref();
  const data: WatchData = { ...options, role: 'watchdog', beats, beatMs };
  const thread = new Worker(__filename, { workerData: data, stdout: false, stderr: false });
  // The watchdog must never be why a process fails: a thread that could not start only says so.
  thread.on('error', (err) => say(`${options.name}: its watchdog stopped (${err.message}); it runs without one.`));
  thread.unref();
  return thread;
}

/** The thread: sleeps a beat, looks, and kills the process when the loop has stalled or the parent is gone. */
function watch(data: WatchData): never {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const stallLimit = Math.ceil((data.stallSeconds * 1000) / data.beatMs);
  let lastBeat = Atomics.load(data.beats, 0);
  let quiet = 0;
  let orphaned = 0;
  for (;;) {
    Atomics.wait(sleeper, 0, 0, data.beatMs);
    const beat = Atomics.load(data.beats, 0);
    quiet = beat === lastBeat ? quiet + 1 : 0;
    lastBeat = beat;
    orphaned = data.parentPid !== undefined && parentGone(data.parentPid) ? orphaned + 1 : 0;
    if (orphaned >= ORPHAN_CHECKS) kill(`${data.name}: its parent (pid ${data.parentPid}) is gone and it did not exit; killing it.`);
    if (stallLimit > 0 && quiet >= stallLimit) {
      kill(`${data.name}: its event loop has not turned for ${data.stallSeconds} s (EVENT_LOOP_STALL_SECONDS); killing it so that it is started again and its work retried.`);
    }
  }
}

/** Whether the process's parent is no longer `pid`: on Linux its parent pid changed (re-parented), elsewhere `pid` is gone. */
function parentGone(pid: number): boolean {
  const parent = procStatFields('self')?.[1];
  if (parent !== undefined) return Number(parent) !== pid;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Written straight to stderr: the process's own streams are served by the loop that is stuck. */
function say(line: string): void {
  try {
    writeSync(2, `${line}\n`);
  } catch {
    // stderr closed: the kill is what matters.
  }
}

function kill(line: string): never {
  say(line);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL sent to self');
}

if (!isMainThread && (workerData as WatchData | undefined)?.role === 'watchdog') watch(workerData as WatchData);
