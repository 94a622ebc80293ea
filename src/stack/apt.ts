/**
 * Debian packages a command needs (redis-server for the stack, chromium for the browser tests),
 * installed in one apt transaction under a lock: apt-get takes the machine's package lock without
 * waiting, so two apt-get runs at once (ours, or another program's) make one of them fail.
 */
import type { Config } from '../config';
import { PrerequisiteError } from '../errors';
import { retry } from '../process/retry';
import { cacheLock } from './layout';
import { withLock } from './lock';
import { runStep } from './provision';
import { which } from './proc';

export interface DebianPackage {
  /** The package's name in Debian. */
  name: string;
  /** What it is for, for the messages ("Redis", "the browser tests"). */
  purpose: string;
  present(): boolean;
  /** How to get it elsewhere, for the message when it cannot be installed ("macOS: brew install redis"). */
  elsewhere?: string;
}

/** apt-get and dpkg saying that another program holds the package lock: worth waiting for. */
const LOCKED = /Could not get lock|Unable to lock|is locked by another process|lock was locked by another process/i;

const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' };
/** apt-get waits this long for dpkg's own lock before giving up (the list and archive locks it does not wait for). */
const APT_LOCK_TIMEOUT = ['-o', 'DPkg::Lock::Timeout=120'];

/**
 * Installs those of `packages` that are missing, all in one apt transaction, as root on Debian;
 * elsewhere, or as another user, throws PrerequisiteError naming what to install. Two commands
 * asking at once install once: the transaction runs under a lock in STACK_CACHE_DIR, and each
 * command checks again what is missing once it holds it.
 */
export async function ensureDebianPackages(
  config: Config,
  packages: DebianPackage[],
  options: { signal?: AbortSignal; report?: (line: string) => void } = {},
): Promise<void> {
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  const missing = () => unique(packages.filter((p) => !p.present()));
  if (missing().length === 0) return;
  const searchPath = [...config.stack.searchPath, '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  const apt = which('apt-get', searchPath);
  const dpkg = which('dpkg', searchPath);
  if (!apt || !dpkg || process.getuid?.() !== 0) throw new PrerequisiteError(installSentence(missing()));
  await withLock(
    cacheLock(config, 'apt'),
    "installing Debian's packages",
    async (lock) => {
      const needed = missing();
      if (needed.length === 0) return;
      report(`Installing ${names(needed)} from Debian's packages for ${purposes(needed)} (first run only)…`);
      const step = { env: APT_ENV, signal: options.signal, guard: lock, retriableOutput: (out: string) => LOCKED.test(out) };
      await retry(
        async () => {
          const still = missing();
          if (still.length === 0) return;
          // A run of dpkg cut off half-way (a Ctrl-C, a kill) must be finished before apt installs anything.
          await runStep(dpkg, ['--configure', '-a'], { ...step, label: 'dpkg --configure -a' });
          await runStep(apt, ['-qq', ...APT_LOCK_TIMEOUT, 'update'], { ...step, label: 'apt-get update' });
          const wanted = still.map((p) => p.name);
          await runStep(apt, ['-qq', ...APT_LOCK_TIMEOUT, 'install', '-y', '--no-install-recommends', ...wanted], {
            ...step,
            label: `apt-get install ${wanted.join(' ')}`,
          });
        },
        {
          retries: 6,
          initialMs: 2_000,
          maxMs: 20_000,
          signal: options.signal,
          onRetry: (_err, _attempt, delayMs) =>
            report(`Another program is using apt (its lock is taken); trying again in ${Math.round(delayMs / 1000)} s…`),
        },
      );
      const absent = missing();
      if (absent.length > 0) throw new PrerequisiteError(`apt-get installed ${names(needed)}, but ${names(absent)} still cannot be found.`);
    },
    { searchPath: config.stack.searchPath, signal: options.signal, report },
  );
}

/** One sentence: what is missing, what for, and how to install it. */
export function installSentence(missing: DebianPackage[]): string {
  const list = names(missing);
  const elsewhere = missing.map((p) => p.elsewhere).filter(Boolean);
  return (
    `${list} ${missing.length > 1 ? 'are' : 'is'} missing (for ${purposes(missing)}): install ${missing.length > 1 ? 'them' : 'it'} ` +
    `(Debian: sudo apt-get install ${missing.map((p) => p.name).join(' ')}${elsewhere.length ? `; ${elsewhere.join('; ')}` : ''}), then run this again.`
  );
}

function unique(packages: DebianPackage[]): DebianPackage[] {
  return [...new Map(packages.map((p) => [p.name, p])).values()];
}

function names(packages: DebianPackage[]): string {
  return joined(packages.map((p) => p.name));
}

function purposes(packages: DebianPackage[]): string {
  return joined([...new Set(packages.map((p) => p.purpose))]);
}

function joined(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
