/**
 * Redis Cluster: six redis-server processes with append-only persistence, joined once by
 * `redis-cli --cluster create` into three masters with one replica each. Each node keeps the
 * cluster's shape in its nodes.conf, so later starts re-form the same cluster by themselves.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../../config';
import { createRedis } from '../../clients/redis';
import { StackStartError } from '../../errors';
import { becomesTrue } from '../../process/wait';
import { startDetached, which } from '../proc';
import type { Service } from '../service';
import { address, HOST, type ClusterLayout, type RedisNode } from './layout';
import { lastLine, run } from './run';

const SEARCH = ['/usr/sbin', '/usr/bin'];

export function redisServerPath(config: Config): string | undefined {
  return which('redis-server', [...config.stack.searchPath, ...SEARCH]);
}

export function redisCliPath(config: Config): string | undefined {
  return which('redis-cli', [...config.stack.searchPath, ...SEARCH]);
}

export function redisNodes(layout: ClusterLayout): string[] {
  return layout.redis.nodes.map((node) => address(node.port));
}

export function redisNodeServices(config: Config, layout: ClusterLayout): Service[] {
  return layout.redis.nodes.map((node, i) => ({
    name: node.name,
    label: `Redis node ${i + 1}`,
    address: address(node.port),
    proc: node,
    startTimeoutMs: 20_000,
    isHealthy: async () => (await redisCommand(node.port, ['PING'])) === 'PONG',
    install: async () => undefined,
    start: async () => {
      mkdirSync(node.dataDir, { recursive: true });
      writeFileSync(node.configFile, redisConf(node));
      startDetached(node, redisServerPath(config)!, [node.configFile]);
    },
  }));
}

/** One command on one node, as text, or undefined when the node does not answer. */
async function redisCommand(port: number, command: string[]): Promise<string | undefined> {
  const reply = await redisReply(port, command);
  return reply === undefined ? undefined : String(reply);
}

/** One command on one node, its reply as ioredis gives it, or undefined when the node does not answer. */
async function redisReply(port: number, [command, ...args]: string[]): Promise<unknown> {
  const redis = createRedis({ url: `redis://${HOST}:${port}`, prefix: '', waitReplicas: 0 }, { fast: true, lazy: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await redis.call(command!, ...args);
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

/** `CLUSTER INFO` of one node as a map (cluster_state, cluster_known_nodes, …). */
export async function clusterInfo(port: number): Promise<Map<string, string> | undefined> {
  const text = await redisCommand(port, ['CLUSTER', 'INFO']);
  if (text === undefined) return undefined;
  return new Map(
    text
      .split(/\r?\n/)
      .filter((line) => line.includes(':'))
      .map((line) => line.trim().split(':') as [string, string]),
  );
}

/**
 * Whole: every node reports cluster_state:ok and knows all six, each master has its replica
 * connected (cluster_state turns ok before the replicas have attached), and every node names a
 * replica for every slot range: Redis 7 leaves a replica out of CLUSTER SLOTS, which clients
 * build their map from, until gossip tells that its first sync is done.
 */
export async function redisClusterOk(layout: ClusterLayout): Promise<boolean> {
  const infos = await Promise.all(layout.redis.nodes.map((node) => clusterInfo(node.port)));
  const agreed = infos.every((info) => info?.get('cluster_state') === 'ok' && info.get('cluster_known_nodes') === String(layout.redis.nodes.length));
  if (!agreed) return false;
  const replication = await Promise.all(layout.redis.nodes.map((node) => redisCommand(node.port, ['INFO', 'replication'])));
  const masters = replication.filter((text) => /role:master/.test(text ?? ''));
  if (masters.length !== layout.redis.nodes.length / 2 || !masters.every((text) => /connected_slaves:1\b/.test(text!))) return false;
  const views = await Promise.all(layout.redis.nodes.map((node) => redisReply(node.port, ['CLUSTER', 'SLOTS'])));
  // CLUSTER SLOTS: [start, end, master, replica…] per range.
  return views.every((ranges) => Array.isArray(ranges) && ranges.length > 0 && ranges.every((range) => Array.isArray(range) && range.length >= 4));
}

/**
 * Joins the six running nodes into a cluster the first time (every node still alone, no slot
 * assigned); afterwards waits for the cluster they re-form from their nodes.conf.
 */
export async function ensureRedisCluster(config: Config, layout: ClusterLayout): Promise<void> {
  const first = layout.redis.nodes[0]!;
  const infos = await Promise.all(layout.redis.nodes.map((node) => clusterInfo(node.port)));
  const fresh = infos.every((info) => info?.get('cluster_known_nodes') === '1' && info.get('cluster_slots_assigned') === '0');
  if (fresh) {
    const cli = redisCliPath(config);
    if (!cli) throw new StackStartError('redis-cli is missing beside redis-server: install redis-tools (Debian: apt-get install redis-tools).');
    const args = ['--cluster', 'create', ...redisNodes(layout), '--cluster-replicas', '1', '--cluster-yes'];
    const result = await run(cli, args, { timeoutMs: 60_000 });
    mkdirSync(dirname(layout.redis.createLogFile), { recursive: true });
    appendFileSync(layout.redis.createLogFile, `$ redis-cli ${args.join(' ')}\n${result.output}\n`);
    if (result.status !== 0) {
      throw new StackStartError(`redis-cli --cluster create failed: ${lastLine(result.output)}`, layout.redis.createLogFile);
    }
  }
  if (!(await becomesTrue(() => redisClusterOk(layout), 30_000, 300))) {
    throw new StackStartError(
      `Redis Cluster at ${redisNodes(layout).join(',')} did not reach cluster_state:ok within 30 s ` +
        `(a half-made cluster stays so: stop it and remove ${layout.dir}/redis-* to make it afresh)`,
      first.logFile,
    );
  }
}

function redisConf(node: RedisNode): string {
  return `# Written by the login-pipeline stack (cluster profile) on each start; edit src/stack/cluster/redis.ts instead.
bind ${HOST}
port ${node.port}
dir ${node.dataDir}
daemonize no
protected-mode yes
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 5000
appendonly yes
appendfsync everysec
appenddirname appendonly
save 300 100
`;
}
