/**
 * The cluster profile of the local stack (`npm run stack:up -- --cluster`, `stack:down`,
 * `stack:status`): three KRaft Kafka nodes, a six-node Redis Cluster, and Temporal's own server on
 * PostgreSQL with four history shards and its Web UI, on ports of their own so that it runs beside
 * the single-node stack. Like stack.ts: `up` reuses what already answers, `down` stops only what
 * `up` started (pid files under STACK_DIR/cluster).
 */
import type { Config, Environment } from '../../config';
import { DeadlineExceededError, StackStartError } from '../../errors';
import { becomesTrue, waitUntil } from '../../process/wait';
import { stackLayout } from '../layout';
import { runningPid, stopGracefully } from '../proc';
import type { Service } from '../service';
import type { ServiceState } from '../stack';
import { temporalService } from '../temporal';
import { ensureDebianPackages, type DebianPackage } from '../apt';
import { allOrAbort, interruptible } from '../provision';
import { ensureTemporalBinaries } from './builds';
import { ensureKafkaJars, kafkaBrokers, kafkaClusterFormed, kafkaNodeServices } from './kafka';
import { clusterLayout, type ClusterLayout, type ClusterOptions } from './layout';
import { postgresBinDir, postgresService } from './postgres';
import { ensureRedisCluster, redisCliPath, redisClusterOk, redisNodes, redisNodeServices, redisServerPath } from './redis';
import { holdingProcessOpen } from './run';
import { ensureNamespace, ensureTemporalSchema, NAMESPACE, temporalAddress, temporalServerService, temporalUiService, temporalUiUrl } from './temporal';

export { clusterLayout, clusterPorts, type ClusterLayout, type ClusterOptions, type ClusterPorts } from './layout';

interface ClusterServices {
  kafka: Service[];
  redis: Service[];
  postgres: Service;
  temporal: Service;
  ui: Service;
}

function services(config: Config, layout: ClusterLayout): ClusterServices {
  return {
    kafka: kafkaNodeServices(config, layout),
    redis: redisNodeServices(config, layout),
    postgres: postgresService(config, layout),
    temporal: temporalServerService(config, layout),
    ui: temporalUiService(layout),
  };
}

/** Every process of the cluster profile, in start order: 3 Kafka nodes, 6 Redis nodes, PostgreSQL, Temporal, its Web UI. */
export function clusterServices(config: Config, options: ClusterOptions = {}): Service[] {
  const s = services(config, clusterLayout(config, options));
  return [...s.kafka, ...s.redis, s.postgres, s.temporal, s.ui];
}

/** What a client of the cluster sets: the three brokers, the frontend, the six Redis nodes, the UI. */
export function clusterEnvironment(config: Config, options: ClusterOptions = {}): Environment {
  const layout = clusterLayout(config, options);
  return {
    KAFKA_BROKERS: kafkaBrokers(layout).join(','),
    TEMPORAL_ADDRESS: temporalAddress(layout),
    TEMPORAL_NAMESPACE: NAMESPACE,
    TEMPORAL_UI_URL: temporalUiUrl(layout),
    REDIS_CLUSTER_NODES: redisNodes(layout).join(','),
  };
}

/**
 * Brings every process up, reusing what already answers, then makes each part whole: the Kafka
 * quorum with all three brokers, the Redis Cluster (created once), Temporal's schema and namespace.
 * Kafka, Redis and Temporal come up side by side; resolves once all are healthy.
 */
export async function clusterUp(
  config: Config,
  report: (line: string) => void = console.log,
  options: ClusterOptions = {},
): Promise<Map<string, ServiceState>> {
  return holdingProcessOpen(() => up(config, report, options));
}

async function up(config: Config, report: (line: string) => void, options: ClusterOptions): Promise<Map<string, ServiceState>> {
  const layout = clusterLayout(config, options);
  const s = services(config, layout);
  const states = new Map<string, ServiceState>();
  const start = async (service: Service) => {
    const state = await bringUp(service);
    states.set(service.name, state);
    report(`${service.label.padEnd(16)} ${service.address}  (${state})`);
  };
  await install(config, layout);
  await Promise.all([
    (async () => {
      await Promise.all(s.kafka.map(start));
      if (!(await becomesTrue(() => kafkaClusterFormed(config, layout), 60_000, 500))) {
        throw new StackStartError(`The Kafka nodes at ${kafkaBrokers(layout).join(',')} answer but have not all registered as brokers within 60 s`, layout.kafka.nodes[0]!.logFile);
      }
    })(),
    (async () => {
      await Promise.all(s.redis.map(start));
      await ensureRedisCluster(config, layout);
    })(),
    (async () => {
      await start(s.postgres);
      if (!(await s.temporal.isHealthy())) await ensureTemporalSchema(layout);
      await start(s.temporal);
      await ensureNamespace(config, layout);
      await start(s.ui);
    })(),
  ]);
  return new Map(clusterServices(config, options).map((service) => [service.name, states.get(service.name)!]));
}

/** Everything the profile runs from: Debian packages (one apt transaction), Kafka's jars, the Go builds. */
async function install(config: Config, layout: ClusterLayout): Promise<void> {
  const packages: DebianPackage[] = [
    { name: 'redis-server', purpose: 'the Redis Cluster', present: () => redisServerPath(config) !== undefined },
    { name: 'redis-tools', purpose: 'the Redis Cluster', present: () => redisCliPath(config) !== undefined },
    { name: 'postgresql', purpose: "Temporal's PostgreSQL", present: () => postgresBinDir() !== undefined },
  ];
  await interruptible('Provisioning the cluster profile', (signal) =>
    allOrAbort(
      [
        (sig) => ensureDebianPackages(config, packages, { signal: sig }),
        (sig) => ensureKafkaJars(config, sig),
        async (sig) => {
          // The single-node stack's CLI (health checks, the namespace), then the server and the UI.
          await temporalService(config, stackLayout(config)).install?.(sig);
          await ensureTemporalBinaries(config, layout, sig);
        },
      ],
      signal,
    ),
  );
}

async function bringUp(service: Service): Promise<ServiceState> {
  if (await service.isHealthy()) return runningPid(service.proc) ? 'already-ours' : 'reused';
  const ours = runningPid(service.proc) !== undefined;
  if (!ours) await service.start();
  // Healthy, or our process gone (a port taken, a bad setting): no use waiting out the deadline then.
  const outcome = await waitUntil(
    async () => ((await service.isHealthy()) ? 'healthy' : runningPid(service.proc) === undefined ? 'exited' : undefined),
    { timeoutMs: service.startTimeoutMs, intervalMs: 300, message: `${service.label} to become healthy` },
  ).catch((err: unknown) => {
    if (err instanceof DeadlineExceededError) return 'timed out' as const;
    throw err;
  });
  if (outcome === 'exited') throw new StackStartError(`${service.label} exited before it answered at ${service.address}`, service.proc.logFile);
  if (outcome === 'timed out') {
    throw new StackStartError(`${service.label} did not become healthy at ${service.address} within ${service.startTimeoutMs / 1000} s`, service.proc.logFile);
  }
  return ours ? 'already-ours' : 'started';
}

/**
 * Stops what `up` started, by pid, gracefully: the UI and Temporal before PostgreSQL; the Redis
 * nodes together; the Kafka nodes together, so that none waits for a quorum the others have left.
 */
export async function clusterDown(config: Config, report: (line: string) => void = console.log, options: ClusterOptions = {}): Promise<void> {
  const s = services(config, clusterLayout(config, options));
  const stop = async (service: Service) => report(`${service.label.padEnd(16)} ${await stopGracefully(service.proc, 30_000)}`);
  await holdingProcessOpen(async () => {
    await stop(s.ui);
    await stop(s.temporal);
    await stop(s.postgres);
    await Promise.all(s.redis.map(stop));
    await Promise.all(s.kafka.map(stop));
  });
}

/** One line per process and one per clustered part; true when everything is up and whole. */
export async function clusterStatus(config: Config, report: (line: string) => void = console.log, options: ClusterOptions = {}): Promise<boolean> {
  const layout = clusterLayout(config, options);
  const all = clusterServices(config, options);
  const rows = await Promise.all(
    all.map(async (service) => {
      const healthy = await service.isHealthy();
      const pid = runningPid(service.proc);
      const owner = pid ? `pid ${pid}, started by this stack` : healthy ? 'not started by this stack' : '';
      return { service, healthy, owner };
    }),
  );
  for (const { service, healthy, owner } of rows) {
    report(`${service.label.padEnd(16)} ${service.address.padEnd(24)} ${healthy ? 'up' : 'down'}${owner ? `  (${owner})` : ''}`);
  }
  const [kafkaWhole, redisWhole] = await Promise.all([kafkaClusterFormed(config, layout), redisClusterOk(layout)]);
  report(`${'Kafka cluster'.padEnd(16)} ${kafkaWhole ? `all ${layout.kafka.nodes.length} brokers registered` : 'not whole'}`);
  report(`${'Redis Cluster'.padEnd(16)} ${redisWhole ? 'cluster_state:ok' : 'not ok'}`);
  return rows.every((r) => r.healthy) && kafkaWhole && redisWhole;
}
