/**
 * Temporal's own server (frontend, history, matching and worker services in one process) on
 * PostgreSQL with HISTORY_SHARDS history shards, its schema made by Temporal's SQL tool, the
 * `default` namespace, and the Web UI server beside it.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../../config';
import { StackStartError } from '../../errors';
import { retry } from '../../process/retry';
import { becomesTrue } from '../../process/wait';
import { stackLayout } from '../layout';
import { startDetached } from '../proc';
import type { Service } from '../service';
import { temporalCli, uiAnswers } from '../temporal';
import { address, HISTORY_SHARDS, HOST, NAMESPACE_RETENTION, type ClusterLayout } from './layout';
import { psql, TEMPORAL_DB_PASSWORD, TEMPORAL_DB_USER } from './postgres';
import { lastLine, run } from './run';

export const NAMESPACE = 'default';
const DATABASES = [
  { name: 'temporal', schema: 'postgresql/v12/temporal' },
  { name: 'temporal_visibility', schema: 'postgresql/v12/visibility' },
];

export function temporalAddress(layout: ClusterLayout): string {
  return address(layout.ports.temporal.frontend);
}

export function temporalUiUrl(layout: ClusterLayout): string {
  return `http://${HOST}:${layout.ports.temporalUi}`;
}

export function temporalServerService(config: Config, layout: ClusterLayout): Service {
  const t = layout.temporal;
  return {
    name: t.name,
    label: 'Temporal',
    address: temporalAddress(layout),
    proc: t,
    startTimeoutMs: 120_000,
    isHealthy: async () => frontendServing(config, layout),
    install: async () => undefined,
    start: async () => {
      mkdirSync(t.configDir, { recursive: true });
      writeFileSync(`${t.configDir}/cluster.yaml`, serverConfig(layout));
      writeFileSync(t.dynamicConfigFile, DYNAMIC_CONFIG);
      // --root is absolute and --config relative to it: the server joins the two.
      startDetached(t, layout.binaries.server, ['--root', t.dir, '--config', 'config', '--env', 'cluster', '--allow-no-auth', 'start']);
    },
  };
}

export function temporalUiService(layout: ClusterLayout): Service {
  const ui = layout.ui;
  const url = temporalUiUrl(layout);
  return {
    name: ui.name,
    label: 'Temporal Web UI',
    address: url,
    proc: ui,
    startTimeoutMs: 30_000,
    isHealthy: () => uiAnswers(url),
    install: async () => undefined,
    start: async () => {
      mkdirSync(ui.configDir, { recursive: true });
      writeFileSync(`${ui.configDir}/base.yaml`, uiConfig(layout));
      startDetached(ui, layout.binaries.uiServer, ['--root', ui.dir, '--config', 'config', 'start']);
    },
  };
}

function cli(config: Config): string {
  const path = temporalCli(config, stackLayout(config));
  if (!path) throw new StackStartError('The Temporal CLI is missing from the cache; run npm run stack:up -- --cluster again to build it.');
  return path;
}

/** The frontend's health check answers SERVING. */
export async function frontendServing(config: Config, layout: ClusterLayout): Promise<boolean> {
  const path = temporalCli(config, stackLayout(config));
  if (!path) return false;
  const result = await run(path, ['operator', 'cluster', 'health', '--address', temporalAddress(layout), '--command-timeout', '3s'], { timeoutMs: 5_000 });
  return result.status === 0 && /SERVING/.test(result.output);
}

/**
 * The databases, the user Temporal connects as, and both schemas at the version this server
 * ships (embedded in the SQL tool: the module's schema/postgresql/v12 folders). Every step is
 * idempotent: setup-schema -v 0.0 leaves a newer schema alone, update-schema applies only the
 * versions not yet applied.
 */
export async function ensureTemporalSchema(layout: ClusterLayout): Promise<void> {
  const log = layout.temporal.schemaLogFile;
  mkdirSync(dirname(log), { recursive: true });
  await psql(
    layout,
    `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${TEMPORAL_DB_USER}') THEN ` +
      `CREATE ROLE ${TEMPORAL_DB_USER} LOGIN CREATEDB PASSWORD '${TEMPORAL_DB_PASSWORD}'; END IF; END $$;`,
  );
  const existing = new Set((await psql(layout, 'SELECT datname FROM pg_database')).split('\n'));
  for (const db of DATABASES) {
    const steps = [
      ...(existing.has(db.name) ? [] : [['create-database']]),
      ['setup-schema', '-v', '0.0'],
      ['update-schema', '--schema-name', db.schema],
    ];
    for (const step of steps) {
      const args = [
        '--plugin',
        'postgres12',
        '--ep',
        HOST,
        '-p',
        String(layout.postgres.port),
        '-u',
        TEMPORAL_DB_USER,
        '--pw',
        TEMPORAL_DB_PASSWORD,
        '--db',
        db.name,
        ...step,
      ];
      const result = await run(layout.binaries.sqlTool, args, { timeoutMs: 300_000 });
      appendFileSync(log, `$ temporal-sql-tool ${args.join(' ')}\n${result.output}\n`);
      if (result.status !== 0) throw new StackStartError(`temporal-sql-tool ${step[0]} of database ${db.name} failed`, log);
    }
  }
}

/**
 * The `default` namespace with seven days' retention, made once; then waits until the frontend
 * serves it (its namespace registry learns of a new namespace within seconds, not at once).
 */
export async function ensureNamespace(config: Config, layout: ClusterLayout): Promise<void> {
  const temporal = cli(config);
  const target = ['--address', temporalAddress(layout), '--command-timeout', '10s'];
  const exists = async () => (await run(temporal, ['operator', 'namespace', 'describe', '--namespace', NAMESPACE, ...target], { timeoutMs: 15_000 })).status === 0;
  if (!(await exists())) {
    // Right after a first start the server may still refuse (shards being acquired): try again.
    await retry(
      async () => {
        const args = ['operator', 'namespace', 'create', '--namespace', NAMESPACE, '--retention', NAMESPACE_RETENTION, ...target];
        const created = await run(temporal, args, { timeoutMs: 15_000 });
        // A create that timed out on our side may still have been made.
        if (created.status !== 0 && !(await exists())) throw new Error(lastLine(created.output));
      },
      { retries: 10, initialMs: 1_000, maxMs: 5_000 },
    ).catch((err: unknown) => {
      throw new StackStartError(`Creating the ${NAMESPACE} namespace on ${temporalAddress(layout)} failed: ${(err as Error).message}`, layout.temporal.logFile);
    });
  }
  const served = async () => (await run(temporal, ['workflow', 'count', '--namespace', NAMESPACE, ...target], { timeoutMs: 15_000 })).status === 0;
  if (!(await becomesTrue(served, 60_000, 1_000))) {
    throw new StackStartError(`The ${NAMESPACE} namespace exists but ${temporalAddress(layout)} did not serve it within 60 s`, layout.temporal.logFile);
  }
}

function serverConfig(layout: ClusterLayout): string {
  const { ports } = layout;
  const t = ports.temporal;
  const m = ports.temporalMembership;
  const datastore = (database: string, maxConns: number) => `      sql:
        pluginName: postgres12
        databaseName: ${database}
        connectAddr: "${address(ports.postgres)}"
        connectProtocol: tcp
        user: ${TEMPORAL_DB_USER}
        password: ${TEMPORAL_DB_PASSWORD}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: 1h`;
  const service = (grpcPort: number, membershipPort: number, httpPort?: number) => `    rpc:
      grpcPort: ${grpcPort}
      membershipPort: ${membershipPort}
      bindOnIP: ${HOST}${httpPort ? `\n      httpPort: ${httpPort}` : ''}`;
  return `# Written by the login-pipeline stack (cluster profile) on each start; edit src/stack/cluster/temporal.ts instead.
# After the samples in go.temporal.io/server's config/development-postgres12.yaml and docker/config_template.yaml.
log:
  stdout: true
  level: warn

persistence:
  # Fixed when the cluster is first created: changing it later needs a new database.
  numHistoryShards: ${HISTORY_SHARDS}
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  datastores:
    postgres-default:
${datastore('temporal', 20)}
    postgres-visibility:
${datastore('temporal_visibility', 10)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "${HOST}"
  pprof:
    port: 0
  metrics:
    prometheus:
      framework: tally
      timerType: histogram
      listenAddress: "${address(t.metrics)}"

services:
  frontend:
${service(t.frontend, m.frontend, t.frontendHttp)}
  history:
${service(t.history, m.history)}
  matching:
${service(t.matching, m.matching)}
  worker:
${service(t.worker, m.worker)}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "${address(t.frontend)}"
      httpAddress: "${address(t.frontendHttp)}"

dcRedirectionPolicy:
  policy: noop

archival:
  history:
    state: disabled
  visibility:
    state: disabled

namespaceDefaults:
  archival:
    history:
      state: disabled
    visibility:
      state: disabled

dynamicConfigClient:
  filepath: "${layout.temporal.dynamicConfigFile}"
  pollInterval: 60s
`;
}

/**
 * The dev server's own defaults (temporalio/cli's start-dev), so that the product behaves here as
 * on the single-node stack: search attributes usable as soon as the worker registers them, and the
 * persistence rate limits raised to match; a host-level history cache of 8k entries, not 128k.
 */
const DYNAMIC_CONFIG = `# Written by the login-pipeline stack (cluster profile) on each start; edit src/stack/cluster/temporal.ts instead.
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
frontend.persistenceMaxQPS:
  - value: 10000
history.persistenceMaxQPS:
  - value: 45000
frontend.namespaceRPS.visibility:
  - value: 100
history.hostLevelCacheMaxSize:
  - value: 8192
`;

function uiConfig(layout: ClusterLayout): string {
  return `# Written by the login-pipeline stack (cluster profile) on each start; edit src/stack/cluster/temporal.ts instead.
temporalGrpcAddress: "${temporalAddress(layout)}"
host: ${HOST}
port: ${layout.ports.temporalUi}
enableUi: true
defaultNamespace: ${NAMESPACE}
notifyOnNewVersion: false
hideLogs: true
cors:
  cookieInsecure: true
`;
}
