/**
 * Cross-process locks for the steps of provisioning (fetching Kafka's jars, building the Temporal
 * CLI, an apt transaction, starting a service), taken with util-linux's flock(1). The kernel
 * drops a flock when the last descriptor on it closes, so a holder that dies (SIGKILL included)
 * never leaves a stale lock behind.
 *
 * Node cannot flock, so a small holder process holds each lock: flock(1) running sh. The holder
 * also guards the step's commands: each runs in a process group of its own, registered with the
 * holder through its stdin. However this process ends, that stdin closes; the holder then kills
 * the groups still registered and waits for them to be gone before it exits, so the lock is free
 * again only once nothing of the step runs. A holder still waiting for its lock dies with this
 * process (setpriv --pdeathsig), and never takes a lock nobody wants any more.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CancelledError, PrerequisiteError } from '../errors';
import { childEnvironment } from '../process/environment';
import { sleep } from '../process/wait';
import { which } from './proc';

/** What the holder runs once flock has the lock. Lines on stdin: "+ <pgid>" guards a group, "- <pgid>" lets it go. */
const HOLDER_SCRIPT = `
echo locked
groups=
while read -r op group; do
  case "$op" in
    +) groups="$groups $group" ;;
    -) kept=; for g in $groups; do [ "$g" = "$group" ] || kept="$kept $g"; done; groups=$kept ;;
  esac
done
[ -z "$groups" ] && exit 0
for g in $groups; do kill -KILL "-$g" 2>/dev/null; done
n=0
while [ $n -lt 100 ]; do
  running=
  for stat in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null < "$stat" || continue
    set -- \${line##*) }
    for g in $groups; do [ "$1" != Z ] && [ "$3" = "$g" ] && running=1; done
  done
  [ -z "$running" ] && exit 0
  sleep 0.1
  n=$((n + 1))
done
`;

/** How long a lock may be awaited silently before saying whom we wait for. */
const QUIET_WAIT_MS = 1_000;

export interface HeldLock {
  /** Puts a process group under the holder's guard: it is killed if this process dies while the group runs. */
  guard(pgid: number): void;
  /** The group has ended; the holder forgets it. */
  unguard(pgid: number): void;
}

export interface LockOptions {
  searchPath: string[];
  signal?: AbortSignal;
  /** Told when the lock is held by another command, once. */
  report?: (line: string) => void;
}

/**
 * Runs `fn` holding the lock `file` (created if missing); `what` says what the holder does, for
 * whoever waits ("building the Temporal CLI"). Waits as long as another command holds it; an
 * abort of `signal` while waiting rejects with CancelledError. `fn` should check again, once it
 * holds the lock, whether its work is still to do: the command it waited for may have done it.
 */
export async function withLock<T>(file: string, what: string, fn: (lock: HeldLock) => Promise<T>, options: LockOptions): Promise<T> {
  const lock = await acquire(file, what, options);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}

async function acquire(file: string, what: string, options: LockOptions): Promise<HeldLock & { release(): Promise<void> }> {
  const flock = which('flock', [...options.searchPath, '/usr/bin', '/bin']);
  if (!flock) {
    throw new PrerequisiteError(
      'Provisioning takes its locks with flock: install util-linux (Debian: apt-get install util-linux; macOS: brew install flock), then run this again.',
    );
  }
  if (options.signal?.aborted) throw new CancelledError(`Waiting for the lock on ${what}`, options.signal.reason);
  mkdirSync(dirname(file), { recursive: true });
  const setpriv = which('setpriv', [...options.searchPath, '/usr/bin', '/bin']);
  const argv = [...(setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : []), flock, '--exclusive', file, '/bin/sh', '-c', HOLDER_SCRIPT];
  // Its own process group: a Ctrl-C from the terminal reaches this process, which then stops the step in order.
  const holder = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: childEnvironment() });
  holder.stdin.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => holder.on('close', () => resolve()));
  let stderr = '';
  holder.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let held = false;
  const onAbort = () => holder.kill('SIGKILL');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      holder.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('locked\n')) resolve();
      });
      holder.on('error', (err) => reject(new PrerequisiteError(`Could not run flock for the lock ${file}: ${err.message}.`, { cause: err })));
      holder.on('close', (code, signal) => {
        if (options.signal?.aborted) reject(new CancelledError(`Waiting for the lock on ${what}`, options.signal.reason));
        else reject(new PrerequisiteError(`Could not take the lock ${file}: ${stderr.trim() || `flock ended with ${signal ?? `exit code ${code}`}`}.`));
      });
      const quiet = new AbortController();
      holder.stdout.once('data', () => quiet.abort());
      holder.on('close', () => quiet.abort());
      sleep(QUIET_WAIT_MS, quiet.signal).then(
        () => options.report?.(`Waiting for another command${owner(file)} that is ${what}…`),
        () => undefined,
      );
    });
    held = true;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (!held) {
      holder.kill('SIGKILL');
      // Its sh may have started in the meantime, holding the lock until its stdin ends.
      holder.stdin.end();
      await exited;
    }
  }
  writeFileSync(file, `${process.pid}\n`);
  return {
    guard: (pgid) => holder.stdin.write(`+ ${pgid}\n`),
    unguard: (pgid) => holder.stdin.write(`- ${pgid}\n`),
    release: async () => {
      holder.stdin.end();
      await exited;
    },
  };
}

/** " (pid N)" for the process that last took the lock, when the file names it. */
function owner(file: string): string {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? ` (pid ${pid})` : '';
  } catch {
    return '';
  }
}
