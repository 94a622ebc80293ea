/** What provisioning leaves running, found in /proc, and commands run as a user types them. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import type { Environment } from '../../src/config';
import { waitFor } from './wait';

export const ROOT = resolve(__dirname, '..', '..', '..');

export interface RunningProcess {
  pid: number;
  ppid: number;
  command: string;
}

/**
 * Every live process (zombies aside: they run nothing, and this machine's init may never reap
 * them) whose environment has `name=value`. Everything a command starts inherits its
 * environment, so a STACK_CACHE_DIR of a test's own finds exactly the processes of that test's
 * commands, their grandchildren included (go's compilers, apt's download methods).
 */
export function processesWithEnvironment(name: string, value: string): RunningProcess[] {
  const wanted = `${name}=${value}`;
  const found: RunningProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      if (!readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(wanted)) continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      found.push({ pid: Number(entry), ppid: Number(ppid), command });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** The live processes (zombies aside) of a process group. */
export function processesInGroup(pgid: number): RunningProcess[] {
  const found: RunningProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid, group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || Number(group) !== pgid) continue;
      found.push({ pid: Number(entry), ppid: Number(ppid), command: readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim() });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** Whether nobody holds the flock on `file`. */
export function lockIsFree(file: string): boolean {
  return spawnSync('flock', ['--nonblock', file, 'true']).status === 0;
}

/** PATH without any folder holding a `temporal` binary, so that the stack builds its own. */
export function pathWithoutTemporal(): string {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir && !existsSync(join(dir, 'temporal')))
    .join(delimiter);
}

export interface Launched {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Signals the command's process group, as a terminal does on Ctrl-C. */
  interrupt(signal?: NodeJS.Signals): void;
  /** Resolves once nothing of the command's process group runs any more. */
  gone(timeoutMs: number): Promise<void>;
}

/**
 * A command as a user types it in a terminal (through sh, in the clone), in a process group of
 * its own as a terminal gives a foreground command; or, given an array, node with those arguments.
 */
export function launch(command: string | string[], env: Environment): Launched {
  const child =
    typeof command === 'string'
      ? // exec: the shell reads the words as typed, then leaves; an interactive shell would not take the Ctrl-C either.
        spawn('/bin/sh', ['-c', `exec ${command}`], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      : spawn(process.execPath, command, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.on('close', (code, signal) => resolveExit({ code, signal })),
  );
  return {
    child,
    output: () => output,
    exited,
    interrupt: (signal = 'SIGINT') => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        /* already gone */
      }
    },
    gone: async (timeoutMs) => {
      await waitFor(() => processesInGroup(child.pid!).length === 0, {
        timeoutMs,
        intervalMs: 100,
        message: () => `nothing of "${String(command)}" to run any more: ${JSON.stringify(processesInGroup(child.pid!))}`,
      });
    },
  };
}

/** Ends whatever is left of a launched command's group (for `finally` blocks). */
export function killLaunched(launched: Launched | undefined): void {
  if (launched && launched.child.exitCode === null && launched.child.signalCode === null) launched.interrupt('SIGKILL');
}
