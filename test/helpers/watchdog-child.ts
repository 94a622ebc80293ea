/**
 * A process under a watchdog, for test/unit/watchdog.test.ts. Its first argument says what it does:
 * - `spin`: its event loop stops turning (a microtask that queues itself forever);
 * - `busy`: its loop turns, in synchronous slices shorter than the stall limit, until SIGTERM (ready
 *   after five slices);
 * - `parent`: forks an `orphan` child, prints its pid, and waits to be killed;
 * - `orphan`: watches its parent only, then stops its own loop, so that only the watchdog can end it.
 * Each says `ready` (or the orphan's pid) on stdout once its watchdog thread runs.
 */
import { fork } from 'node:child_process';
import { startWatchdog } from '../../src/process/watchdog';

const BEAT_MS = 50;
const STALL_SECONDS = 0.5;

function spinForever(): void {
  const again = (): Promise<void> => Promise.resolve().then(again);
  void again();
}

function busyUntilTerminated(onRunning: () => void): void {
  // Slices of about 150 ms of synchronous work, a turn of the loop between each: three beats, under
  // the limit of ten. Counted in iterations, not in time, so that a slice under way when the process
  // is stopped goes on for the rest of its work after it resumes, as real work would.
  const iterationsPer150Ms = calibrate(150);
  let slices = 0;
  const slice = () => {
    if (++slices === 5) onRunning();
    let x = 0;
    for (let i = 0; i < iterationsPer150Ms; i++) x = (x + i * 7) % 1_000_003;
    sink += x;
    setImmediate(slice);
  };
  slice();
  process.on('SIGTERM', () => process.exit(sink < 0 ? 1 : 0));
}

let sink = 0;
function calibrate(ms: number): number {
  let iterations = 0;
  let x = 0;
  const until = Date.now() + ms;
  while (Date.now() < until) for (let i = 0; i < 10_000; i++, iterations++) x = (x + i * 7) % 1_000_003;
  sink = x;
  return iterations;
}

const mode = process.argv[2];
// What keeps a service alive (its sockets and servers): the watchdog's own thread and timer do not.
setInterval(() => undefined, 60_000);
switch (mode) {
  case 'spin':
    startWatchdog({ name: 'test child', stallSeconds: STALL_SECONDS }, BEAT_MS)!.once('online', () => process.stdout.write('ready\n', () => setImmediate(spinForever)));
    break;
  case 'busy':
    startWatchdog({ name: 'test child', stallSeconds: STALL_SECONDS }, BEAT_MS)!.once('online', () => busyUntilTerminated(() => process.stdout.write('ready\n')));
    break;
  case 'parent': {
    const child = fork(__filename, ['orphan'], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], detached: true });
    child.stdout!.once('data', () => process.stdout.write(`${child.pid}\n`));
    break;
  }
  case 'orphan':
    startWatchdog({ name: 'test orphan', stallSeconds: 0, parentPid: process.ppid }, BEAT_MS)!.once('online', () => process.stdout.write('ready\n', () => setImmediate(spinForever)));
    break;
  default:
    throw new Error(`watchdog-child: unknown mode ${mode}`);
}
