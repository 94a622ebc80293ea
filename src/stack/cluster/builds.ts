/**
 * Temporal's own server, its SQL schema tool and the Web UI server, built from the Go module proxy
 * into the cache like the single-node stack's CLI (GOBIN, CGO_ENABLED=0): the server module has no
 * replace directives, and the UI server embeds the built UI, so `go install pkg@version` works.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../../config';
import { CancelledError, PrerequisiteError, StackStartError } from '../../errors';
import { cacheLock } from '../layout';
import { withLock } from '../lock';
import { which } from '../proc';
import { runStep } from '../provision';
import { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_SERVER_VERSION, type ClusterLayout } from './layout';

const SERVER_MODULE = 'go.temporal.io/server';
const UI_MODULE = 'github.com/temporalio/ui-server/v2';

/** Builds what is missing, one go build at a time (each already uses every core), under the cache's lock. */
export async function ensureTemporalBinaries(config: Config, layout: ClusterLayout, signal?: AbortSignal): Promise<void> {
  const { server, sqlTool, uiServer } = layout.binaries;
  if (existsSync(server) && existsSync(sqlTool) && existsSync(uiServer)) return;
  await withLock(
    cacheLock(config, 'temporal-server'),
    'building the Temporal server',
    async (lock) => {
      if (!existsSync(server) || !existsSync(sqlTool)) {
        await goInstall(
          config,
          'the Temporal server and its SQL tool',
          [`${SERVER_MODULE}/cmd/server@v${TEMPORAL_SERVER_VERSION}`, `${SERVER_MODULE}/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`],
          // go install names a binary after its package's folder.
          { server: server, sql: sqlTool },
          { signal, guard: lock },
        );
      }
      if (!existsSync(uiServer)) {
        await goInstall(config, 'the Temporal Web UI server', [`${UI_MODULE}/cmd/server@v${TEMPORAL_UI_SERVER_VERSION}`], { server: uiServer }, { signal, guard: lock });
      }
    },
    { searchPath: config.stack.searchPath, signal },
  );
}

/**
 * `go install` into a staging folder, then the binaries renamed into place: an interrupted build
 * leaves nothing that looks finished. All targets of one call share one folder.
 */
async function goInstall(
  config: Config,
  what: string,
  packages: string[],
  targets: Record<string, string>,
  step: Pick<Parameters<typeof runStep>[2] & object, 'signal' | 'guard'>,
): Promise<void> {
  const go = which('go', config.stack.searchPath);
  if (!go) {
    throw new PrerequisiteError(`The cluster profile builds ${what} with Go: install Go 1.24 or newer (https://go.dev/dl), then run this again.`);
  }
  const target = dirname(Object.values(targets)[0]!);
  const staging = `${target}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  console.log(`Building ${what} with go into ${target} (first run only, a few minutes)…`);
  try {
    await runStep(go, ['install', '-ldflags=-s -w', ...packages], { ...step, label: `go install of ${what}`, env: { GOBIN: staging, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' } });
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (err instanceof CancelledError) throw err;
    throw new StackStartError(`Building ${what} with go failed (its output is above): go install ${packages.join(' ')}`);
  }
  mkdirSync(target, { recursive: true });
  for (const [built, path] of Object.entries(targets)) renameSync(join(staging, built), path);
  rmSync(staging, { recursive: true, force: true });
}
