/**
 * PostgreSQL from Debian's packages for Temporal's persistence: a database cluster of our own under
 * STACK_DIR (own port, own socket folder, trust authentication, loopback only), run by the
 * distribution's binaries as a managed process. PostgreSQL refuses to run as root, so as root it
 * runs as the `postgres` user the Debian package creates.
 */
import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../../config';
import { PrerequisiteError, StackStartError } from '../../errors';
import { startDetached, which } from '../proc';
import type { Service } from '../service';
import { address, HOST, type ClusterLayout } from './layout';
import { lastLine, run } from './run';

const POSTGRES_ROOT = '/usr/lib/postgresql';
/** Temporal's postgres12 plugin needs PostgreSQL 12 or newer. */
const MIN_MAJOR = 12;
export const POSTGRES_SUPERUSER = 'postgres';
export const TEMPORAL_DB_USER = 'temporal';
export const TEMPORAL_DB_PASSWORD = 'temporal';

/** The newest installed server's bin folder (Debian keeps each major version apart), if any. */
export function postgresBinDir(): string | undefined {
  if (!existsSync(POSTGRES_ROOT)) return undefined;
  const majors = readdirSync(POSTGRES_ROOT)
    .map(Number)
    .filter((major) => Number.isInteger(major) && major >= MIN_MAJOR && existsSync(join(POSTGRES_ROOT, String(major), 'bin', 'initdb')))
    .sort((a, b) => b - a);
  return majors.length > 0 ? join(POSTGRES_ROOT, String(majors[0]), 'bin') : undefined;
}

function binDir(): string {
  const dir = postgresBinDir();
  if (!dir) throw new PrerequisiteError(`The cluster profile needs PostgreSQL ${MIN_MAJOR} or newer: install postgresql (Debian: sudo apt-get install postgresql).`);
  return dir;
}

/** As root: the command, run as the postgres user (setpriv execs, so the pid stays the server's). */
function asDatabaseOwner(config: Config, command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  const setpriv = which('setpriv', [...config.stack.searchPath, '/usr/bin', '/bin']);
  if (!setpriv) throw new PrerequisiteError('Running PostgreSQL as root needs setpriv to drop to the postgres user: install util-linux.');
  return [setpriv, ['--reuid', POSTGRES_SUPERUSER, '--regid', POSTGRES_SUPERUSER, '--init-groups', '--', command, ...args]];
}

async function ownerIds(): Promise<{ uid: number; gid: number }> {
  const passwd = await run('getent', ['passwd', POSTGRES_SUPERUSER]);
  const [, , uid, gid] = passwd.output.trim().split(':');
  if (passwd.status !== 0 || uid === undefined || gid === undefined) {
    throw new PrerequisiteError(
      `PostgreSQL refuses to run as root and there is no ${POSTGRES_SUPERUSER} user to run it as: create one (useradd --system ${POSTGRES_SUPERUSER}) or run this as a normal user.`,
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

export function postgresService(config: Config, layout: ClusterLayout): Service {
  const pg = layout.postgres;
  return {
    name: pg.name,
    label: 'PostgreSQL',
    address: address(pg.port),
    proc: pg,
    startTimeoutMs: 60_000,
    isHealthy: async () => postgresAnswers(layout),
    install: async () => undefined,
    start: async () => {
      const bin = binDir();
      await initDatabaseCluster(config, layout, bin);
      // The socket's path must fit in 107 bytes; beyond that, TCP only (everything here uses TCP).
      const socketDir = join(pg.dir, `.s.PGSQL.${pg.port}`).length < 100 ? pg.dir : '';
      const [command, args] = asDatabaseOwner(config, join(bin, 'postgres'), [
        '-D',
        pg.dataDir,
        '-p',
        String(pg.port),
        '-c',
        `listen_addresses=${HOST}`,
        '-c',
        `unix_socket_directories=${socketDir}`,
        '-c',
        'shared_buffers=64MB',
        '-c',
        'max_connections=100',
        '-c',
        'logging_collector=off',
      ]);
      startDetached(pg, command, args);
    },
  };
}

/** initdb once: the superuser `postgres`, trust on loopback and the local socket, UTF-8. */
async function initDatabaseCluster(config: Config, layout: ClusterLayout, bin: string): Promise<void> {
  const pg = layout.postgres;
  if (existsSync(join(pg.dataDir, 'PG_VERSION'))) return;
  mkdirSync(pg.dir, { recursive: true });
  if (process.getuid?.() === 0) {
    const { uid, gid } = await ownerIds();
    chownSync(pg.dir, uid, gid);
    // A clone under /root (mode 700) is out of the postgres user's reach: say so rather than let initdb fail.
    const [test, testArgs] = asDatabaseOwner(config, 'test', ['-w', pg.dir, '-a', '-x', pg.dir]);
    if ((await run(test, testArgs)).status !== 0) {
      throw new PrerequisiteError(
        `PostgreSQL runs as the ${POSTGRES_SUPERUSER} user, who cannot reach ${pg.dir}: let it through the folders above (chmod o+x on each) or set STACK_DIR to a folder it can reach.`,
      );
    }
  }
  const [command, args] = asDatabaseOwner(config, join(bin, 'initdb'), [
    '-D',
    pg.dataDir,
    '-U',
    POSTGRES_SUPERUSER,
    '--auth-host=trust',
    '--auth-local=trust',
    '--encoding=UTF8',
    '--no-locale',
  ]);
  const result = await run(command, args, { timeoutMs: 120_000 });
  mkdirSync(dirname(pg.logFile), { recursive: true });
  appendFileSync(pg.logFile, result.output);
  if (result.status !== 0) throw new StackStartError(`initdb of ${pg.dataDir} failed: ${lastLine(result.output)}`, pg.logFile);
}

export async function postgresAnswers(layout: ClusterLayout): Promise<boolean> {
  const bin = postgresBinDir();
  if (!bin) return false;
  const result = await run(join(bin, 'pg_isready'), ['-q', '-h', HOST, '-p', String(layout.postgres.port), '-U', POSTGRES_SUPERUSER, '-d', 'postgres', '-t', '2'], { timeoutMs: 5_000 });
  return result.status === 0;
}

/** One SQL statement through psql as the superuser; its unaligned output, or a StackStartError. */
export async function psql(layout: ClusterLayout, sql: string, database = 'postgres'): Promise<string> {
  const result = await run(
    join(binDir(), 'psql'),
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', HOST, '-p', String(layout.postgres.port), '-U', POSTGRES_SUPERUSER, '-d', database, '-tAc', sql],
    { timeoutMs: 30_000 },
  );
  if (result.status !== 0) throw new StackStartError(`psql on ${address(layout.postgres.port)} failed: ${lastLine(result.output)}`, layout.postgres.logFile);
  return result.output.trim();
}
