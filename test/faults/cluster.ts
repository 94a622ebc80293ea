/**
 * The fault suite's stack on the cluster profile (src/stack/cluster): a cluster of its own (its
 * own STACK_DIR, every port moved by 2000, as the cluster-stack test's), and the faults that only
 * a cluster has. Each kills with SIGKILL and starts the process again, as a supervisor would, then
 * waits until the part is whole again before the next scenario:
 *
 * - the broker that leads partition 0 of the scenario's input (its other two replicas take over);
 * - the Redis master of the totals' hash tag, which every batch writes (its replica takes over);
 * - Temporal's server; PostgreSQL under it;
 * - one of two bridges and one of two workers.
 */
import { join, resolve } from 'node:path';
import { Cluster } from 'ioredis';
import { loadConfig, type Config, type Environment } from '../../src/config';
import { InsightsKeys } from '../../src/insights/keys';
import { becomesTrue } from '../../src/process/wait';
import { clusterDown, clusterEnvironment, clusterLayout, clusterServices, clusterUp, type ClusterLayout } from '../../src/stack/cluster';
import { kafkaClusterFormed } from '../../src/stack/cluster/kafka';
import { redisClusterOk } from '../../src/stack/cluster/redis';
import { runningPid, signalGroup } from '../../src/stack/proc';
import type { Service } from '../../src/stack/service';
import { waitFor } from '../helpers/wait';
import { PROCESS_FAULTS, type Fault, type FaultStackLike } from './suite';

const ROOT = resolve(__dirname, '..', '..', '..');
/** Kafka 13092-13094, Redis 13001-13006, PostgreSQL 13432, Temporal 13233, its UI 14233. */
const OPTIONS = { portOffset: 2000 };

export class ClusterFaultStack implements FaultStackLike {
  readonly config: Config;
  readonly layout: ClusterLayout;
  readonly env: Environment;
  private readonly own: Fault[];
  private readonly services: Map<string, Service>;

  constructor() {
    this.config = loadConfig({ ...process.env, STACK_DIR: join(ROOT, '.data', 'test-stacks', 'cluster-faults') });
    this.layout = clusterLayout(this.config, OPTIONS);
    this.env = clusterEnvironment(this.config, OPTIONS);
    this.services = new Map(clusterServices(this.config, OPTIONS).map((s) => [s.name, s]));
    this.own = [
      { name: "SIGKILL of the partition leader's Kafka broker", inject: ({ harness }) => this.killPartitionLeader(harness.kafka, harness.config.kafka.inputTopic) },
      { name: 'SIGKILL of a Redis master', inject: ({ harness }) => this.killRedisMaster(new InsightsKeys(harness.config.redis.prefix, harness.config.aggregates).totalsTag) },
      { name: 'SIGKILL of the Temporal server', inject: () => this.killAndStart('temporal', () => this.service('temporal').isHealthy()) },
      { name: 'SIGKILL of PostgreSQL', inject: () => this.killAndStart('postgres', () => this.service('postgres').isHealthy()) },
      PROCESS_FAULTS.pair,
    ];
  }

  faults(): Fault[] {
    return this.own;
  }

  async start(): Promise<void> {
    await clusterUp(this.config, () => undefined, OPTIONS);
  }

  async stop(): Promise<void> {
    await clusterDown(this.config, () => undefined, OPTIONS);
  }

  private service(name: string): Service {
    const service = this.services.get(name);
    if (!service) throw new Error(`the cluster profile has no process ${name}`);
    return service;
  }

  /** SIGKILLs the process (its group), starts it again, and waits until `whole` says the part is whole. */
  private async killAndStart(name: string, whole: () => Promise<boolean>): Promise<void> {
    const service = this.service(name);
    const pid = runningPid(service.proc);
    if (pid === undefined) throw new Error(`${service.label} is not running`);
    signalGroup(pid, 'SIGKILL');
    await waitFor(() => runningPid(service.proc) === undefined, { timeoutMs: 10_000, message: `${service.label} to die` });
    await this.restartWhenAsked(service, whole);
  }

  private async restartWhenAsked(service: Service, whole: () => Promise<boolean>): Promise<void> {
    await service.start();
    if (!(await becomesTrue(whole, 120_000, 500))) throw new Error(`${service.label} is not whole again within 120 s after its restart; see ${service.proc.logFile}`);
  }

  private async killPartitionLeader(kafka: import('kafkajs').Kafka, topic: string): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    let leader: number;
    try {
      const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
      leader = metadata!.partitions.find((p) => p.partitionId === 0)!.leader;
    } finally {
      await admin.disconnect();
    }
    const node = this.layout.kafka.nodes.find((n) => n.nodeId === leader);
    if (!node) throw new Error(`partition 0 of ${topic} is led by broker ${leader}, not one of the profile's`);
    await this.killAndStart(node.name, () => kafkaClusterFormed(this.config, this.layout));
  }

  /** Kills the master that holds `tag`'s slot; waits for its replica to take the slot over, then starts the old master (it rejoins as a replica). */
  private async killRedisMaster(tag: string): Promise<void> {
    const cluster = new Cluster(this.env.REDIS_CLUSTER_NODES!.split(',').map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) })));
    try {
      const slot = Number(await cluster.cluster('KEYSLOT', `${tag}:x`));
      const owner = async () => {
        const ranges = await cluster.cluster('SLOTS');
        return ranges.find(([start, end]) => slot >= start && slot <= end)?.[2]?.[1];
      };
      const port = await owner();
      const node = this.layout.redis.nodes.find((n) => n.port === port);
      if (!node) throw new Error(`slot ${slot} is served by port ${port}, not one of the profile's Redis nodes`);
      const service = this.service(node.name);
      signalGroup(runningPid(service.proc)!, 'SIGKILL');
      await waitFor(async () => (await owner().catch(() => port)) !== port, { timeoutMs: 60_000, intervalMs: 250, message: `a replica to take slot ${slot} over from ${port}` });
      await this.restartWhenAsked(service, () => redisClusterOk(this.layout));
    } finally {
      cluster.disconnect();
    }
  }
}
