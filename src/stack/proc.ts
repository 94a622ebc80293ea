/**
 * Background processes of the local stack: started detached with their output in a log file
 * and their pid in a pid file, so that `down` stops exactly what `up` started.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Environment } from '../config';
import { childEnvironment } from '../process/environment';
import { becomesTrue } from '../process/wait';

export interface ManagedProcess {
  name: string;
  pidFile: string;
  logFile: string;
}

export function startDetached(
  proc: ManagedProcess,
  command: string,
  args: string[],
  options: { cwd?: string; env?: Environment } = {},
): number {
  mkdirSync(dirname(proc.logFile), { recursive: true });
  mkdirSync(dirname(proc.pidFile), { recursive: true });
  const log = openSync(proc.logFile, 'a');
  try {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: childEnvironment(options.env),
      detached: true,
      stdio: ['ignore', log, log],
    });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    child.unref();
    // The kernel's start time goes with the pid, so that a recycled pid is never taken for ours.
    writeFileSync(proc.pidFile, `${child.pid} ${startTime(child.pid)}\n`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** The pid of our running process, or undefined when it is not running. */
export function runningPid(proc: ManagedProcess): number | undefined {
  if (!existsSync(proc.pidFile)) return undefined;
  const [pidText, started] = readFileSync(proc.pidFile, 'utf8').trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  return startTime(pid) === started ? pid : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch {
    return false;
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

/** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
export async function stopGracefully(proc: ManagedProcess, graceMs: number): Promise<'stopped' | 'killed' | 'not-running'> {
  const pid = runningPid(proc);
  if (pid === undefined) {
    rmSync(proc.pidFile, { force: true });
    return 'not-running';
  }
  signalGroup(pid, 'SIGTERM');
  const gone = async () => !isAlive(pid);
  let outcome: 'stopped' | 'killed' = 'stopped';
  if (!(await becomesTrue(gone, graceMs, 100))) {
    signalGroup(pid, 'SIGKILL');
    outcome = 'killed';
    await becomesTrue(gone, 10_000, 50);
  }
  rmSync(proc.pidFile, { force: true });
  return outcome;
}

/** Signals the process group the detached process leads, so helpers it spawned go too. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Finds an executable on the search path, or undefined. */
export function which(name: string, searchPath: string[]): string | undefined {
  return searchPath.map((dir) => `${dir}/${name}`).find(isExecutable);
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Runs a command to completion, returning its exit status and combined output. */
export function runSync(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Environment; timeoutMs?: number } = {},
): { status: number | null; output: string } {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: childEnvironment(options.env),
    encoding: 'utf8',
    timeout: options.timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}
