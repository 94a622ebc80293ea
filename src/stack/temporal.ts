/** Temporal: the official CLI's dev server (SQLite file under STACK_DIR, Web UI embedded). */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { msToTs } from '@temporalio/common/lib/time';
import { connectClient } from '../clients/temporal';
import type { Config } from '../config';
import { PrerequisiteError } from '../errors';
import { cacheLock, hostAndPort, KAFKA_LOG_RETENTION_HOURS, TEMPORAL_CLI_VERSION, type StackLayout } from './layout';
import { withLock } from './lock';
import { runSync, startDetached, which } from './proc';
import { runStep } from './provision';
import type { Service } from './service';

const CLI_MODULE = 'github.com/temporalio/cli';

export function temporalService(config: Config, layout: StackLayout): Service {
  const { host, port } = hostAndPort(config.temporal.address);
  const uiPort = Number(new URL(config.temporal.uiUrl).port || 80);
  return {
    name: 'temporal',
    label: 'Temporal',
    address: config.temporal.address,
    extraAddresses: [{ label: 'Temporal Web UI', address: config.temporal.uiUrl }],
    proc: layout.temporal,
    startTimeoutMs: 60_000,
    isHealthy: async () => (await temporalAnswers(config, layout)) && (await uiAnswers(config.temporal.uiUrl)),
    install: async (signal) => {
      await ensureTemporalCli(config, layout, signal);
    },
    configure: () => ensureRetention(config, KAFKA_LOG_RETENTION_HOURS * 3600),
    start: async () => {
      mkdirSync(dirname(layout.temporal.dbFile), { recursive: true });
      const cli = temporalCli(config, layout)!;
      startDetached(layout.temporal, cli, [
        'server',
        'start-dev',
        '--ip',
        host,
        '--port',
        String(port),
        '--ui-port',
        String(uiPort),
        '--db-filename',
        layout.temporal.dbFile,
        '--namespace',
        config.temporal.namespace,
        '--log-level',
        'warn',
        // One partition: a lone worker then finds its tasks at once instead of through forwarding.
        '--dynamic-config-value',
        'matching.numTaskqueueReadPartitions=1',
        '--dynamic-config-value',
        'matching.numTaskqueueWritePartitions=1',
        '--sqlite-pragma',
        'journal_mode=wal',
        '--sqlite-pragma',
        'synchronous=normal',
      ]);
    },
  };
}

/** The CLI to use: one on PATH as it is, else ours from the cache; undefined when neither exists. */
export function temporalCli(config: Config, layout: StackLayout): string | undefined {
  return which('temporal', config.stack.searchPath) ?? (existsSync(layout.temporalBinary) ? layout.temporalBinary : undefined);
}

/**
 * The CLI to use, built into the cache first when there is none: `go install` of the pinned
 * version, once for every clone on the machine (under a lock), into a staging folder renamed
 * into place only when complete.
 */
export async function ensureTemporalCli(
  config: Config,
  layout: StackLayout,
  signal: AbortSignal,
  report: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<string> {
  const existing = temporalCli(config, layout);
  if (existing) return existing;
  const go = which('go', config.stack.searchPath);
  if (!go) {
    throw new PrerequisiteError(
      `The Temporal CLI is built from source with Go: install Go 1.22 or newer (https://go.dev/dl), or put a temporal binary on PATH.`,
    );
  }
  await withLock(
    cacheLock(config, 'temporal-cli'),
    'building the Temporal CLI',
    async (lock) => {
      // The command we waited for may have built it.
      if (existsSync(layout.temporalBinary)) return;
      const target = dirname(layout.temporalBinary);
      // What an interrupted build left is ours now: start again from nothing (Go's caches keep its progress).
      const staging = `${target}.partial`;
      rmSync(staging, { recursive: true, force: true });
      mkdirSync(join(staging, 'bin'), { recursive: true });
      mkdirSync(join(staging, 'tmp'), { recursive: true });
      try {
        report(`Building the Temporal CLI v${TEMPORAL_CLI_VERSION} with go into ${target} (first run only, a few minutes)…`);
        await runStep(
          go,
          ['install', `-ldflags=-s -w -X ${CLI_MODULE}/temporalcli.Version=${TEMPORAL_CLI_VERSION}`, `${CLI_MODULE}/cmd/temporal@v${TEMPORAL_CLI_VERSION}`],
          {
            // go's work folder in the staging folder too, so that a killed build leaves nothing in /tmp.
            env: { GOBIN: join(staging, 'bin'), GOTMPDIR: join(staging, 'tmp'), CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
            label: 'go install of the Temporal CLI',
            signal,
            guard: lock,
          },
        );
        rmSync(target, { recursive: true, force: true });
        renameSync(join(staging, 'bin'), target);
      } finally {
        rmSync(staging, { recursive: true, force: true });
      }
    },
    { searchPath: config.stack.searchPath, signal, report },
  );
  return layout.temporalBinary;
}

/**
 * Closed runs are kept at least `seconds` (the dev server creates its namespace with one day):
 * a batch's run must outlive the Kafka records it was made from.
 */
export async function ensureRetention(config: Config, seconds: number): Promise<void> {
  const client = await connectClient(config.temporal);
  try {
    const namespace = config.temporal.namespace;
    const described = await client.workflowService.describeNamespace({ namespace });
    const current = Number(described.config?.workflowExecutionRetentionTtl?.seconds ?? 0);
    if (current >= seconds) return;
    await client.workflowService.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: msToTs(seconds * 1000) } });
  } finally {
    await client.connection.close();
  }
}

export async function temporalAnswers(config: Config, layout: StackLayout): Promise<boolean> {
  const cli = temporalCli(config, layout);
  if (!cli) return false;
  const result = runSync(cli, ['operator', 'cluster', 'health', '--address', config.temporal.address, '--command-timeout', '3s'], {
    timeoutMs: 5_000,
  });
  return result.status === 0 && /SERVING/.test(result.output);
}

export async function uiAnswers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return response.status === 200;
  } catch {
    return false;
  }
}
