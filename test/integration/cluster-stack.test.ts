/**
 * The cluster profile (stack:up -- --cluster) on a cluster of this test's own: its own STACK_DIR,
 * and every port moved by PORT_OFFSET so that a developer's cluster on the default ports is left
 * alone. Each part is checked for real: Kafka replicates (RF 3, min.insync.replicas 2) and runs
 * transactions across its three brokers; Redis Cluster has three masters with a replica each and
 * spreads keys over them; Temporal runs a workflow on four history shards with a seven-day
 * `default` namespace, and its Web UI answers. Up is idempotent; down leaves no process; the next
 * up has the data of before.
 *
 * About 50 s once built (12 processes, 3 JVMs among them; a fresh data folder each run); the first
 * run on a machine also builds Temporal's server and Web UI with Go (3 minutes on 2 cores). Alone:
 * `npm test -- lib/test/integration/cluster-stack.test.js`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from '@temporalio/worker';
import { Cluster } from 'ioredis';
import { ConfigResourceTypes } from 'kafkajs';
import { createKafka } from '../../src/clients/kafka';
import { connectClient, connectNative } from '../../src/clients/temporal';
import { loadConfig } from '../../src/config';
import { clusterDown, clusterEnvironment, clusterServices, clusterStatus, clusterUp } from '../../src/stack/cluster';
import { isAlive } from '../../src/stack/proc';
import { greetingWorkflow } from '../fixtures/workflows';
import { TopicReader } from '../helpers/kafka';
import { quietTemporalRuntime } from '../helpers/runtime';
import { waitFor } from '../helpers/wait';

const ROOT = resolve(__dirname, '..', '..', '..');
/** Kafka 13092-13194, Redis 13001-13006 (bus 23001-23006), PostgreSQL 13432, Temporal 13233-13939 and UI 14233. */
const OPTIONS = { portOffset: 2000 };
const TOPIC = 'replicated';
const TASK_QUEUE = 'cluster-test';
const WORKFLOW_ID = 'cluster-greeting';
const SEVEN_DAYS_S = 7 * 24 * 3600;

describe('cluster profile of the local stack', function () {
  // A first run on a machine builds Temporal's server and UI with Go.
  this.timeout(20 * 60_000);
  const dir = join(ROOT, '.data', 'test-stacks', 'cluster');
  const env = clusterEnvironment(loadConfig({ ...process.env, STACK_DIR: dir }), OPTIONS);
  const config = loadConfig({
    ...process.env,
    STACK_DIR: dir,
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS,
    TEMPORAL_UI_URL: env.TEMPORAL_UI_URL,
    TEMPORAL_NAMESPACE: env.TEMPORAL_NAMESPACE,
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
  });
  const redisNodes = env.REDIS_CLUSTER_NODES!.split(',').map((node) => {
    const [host, port] = node.split(':');
    return { host: host!, port: Number(port) };
  });
  const quiet = () => undefined;
  const kafka = () => createKafka(config.kafka, { clientId: 'cluster-test' });
  const redisCluster = () => new Cluster(redisNodes, { lazyConnect: false });
  /** One key per master, found with CLUSTER KEYSLOT / CLUSTER SLOTS: key → the master's port. */
  const keysPerMaster = new Map<string, number>();

  before(() => {
    quietTemporalRuntime();
    rmSync(dir, { recursive: true, force: true });
  });
  after(() => clusterDown(config, quiet, OPTIONS));

  it('comes up whole, and up again reuses every process', async () => {
    const lines: string[] = [];
    const first = await clusterUp(config, (l) => lines.push(l), OPTIONS);
    assert.equal(first.size, 12, '3 Kafka nodes, 6 Redis nodes, PostgreSQL, Temporal, its Web UI');
    assert.deepEqual(new Set(first.values()), new Set(['started']), lines.join('\n'));
    assert.equal(lines.length, 12);
    const again = await clusterUp(config, quiet, OPTIONS);
    assert.deepEqual(new Set(again.values()), new Set(['already-ours']), 'up is idempotent');
    const status: string[] = [];
    assert.equal(await clusterStatus(config, (l) => status.push(l), OPTIONS), true, status.join('\n'));
  });

  it('Kafka: topics get replication factor 3 and min.insync.replicas 2, and transactions commit across the three brokers', async () => {
    const admin = kafka().admin();
    await admin.connect();
    try {
      assert.equal((await admin.describeCluster()).brokers.length, 3);
      // No replication factor given: the brokers' default applies. kafkajs's waitForLeaders gives up
      // when the broker it asks has not yet heard of the topic (UNKNOWN_TOPIC_OR_PARTITION), which a
      // broker of three may not have, a moment after another created it: wait here instead.
      await admin.createTopics({ waitForLeaders: false, topics: [{ topic: TOPIC, numPartitions: 3 }] });
      const topic = await waitFor(
        async () => {
          const [found] = (await admin.fetchTopicMetadata({ topics: [TOPIC] })).topics;
          return found?.partitions.length === 3 && found.partitions.every((p) => p.leader >= 0 && p.isr.length === 3) ? found : undefined;
        },
        { timeoutMs: 30_000, message: `${TOPIC} with a leader and three in-sync replicas per partition` },
      );
      for (const partition of topic.partitions) {
        assert.equal(partition.replicas.length, 3, `partition ${partition.partitionId} has three replicas`);
        assert.equal(partition.isr.length, 3, `partition ${partition.partitionId} has all three in sync`);
      }
      assert.equal(new Set(topic.partitions.map((p) => p.leader)).size, 3, 'one leader per broker: the transaction spans all three');
      // Asked of any broker, which may still be learning of the topic: again until one answers.
      const described = await waitFor(
        () =>
          admin.describeConfigs({
            includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.TOPIC, name: TOPIC, configNames: ['min.insync.replicas'] }],
          }),
        { timeoutMs: 30_000, message: `the configuration of ${TOPIC}` },
      );
      assert.equal(described.resources[0]?.configEntries[0]?.configValue, '2');
    } finally {
      await admin.disconnect();
    }

    const producer = kafka().producer({ transactionalId: 'cluster-test-tx', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const inEachPartition = (value: string) => [0, 1, 2].map((partition) => ({ partition, key: `p${partition}`, value }));
      for (const [value, outcome] of [['committed-1', 'commit'], ['aborted', 'abort'], ['committed-2', 'commit']] as const) {
        const tx = await producer.transaction();
        await tx.send({ topic: TOPIC, acks: -1, messages: inEachPartition(value) });
        await (outcome === 'commit' ? tx.commit() : tx.abort());
      }
    } finally {
      await producer.disconnect();
    }
    const values = await readAll(6);
    assert.deepEqual(values.sort(), ['committed-1', 'committed-1', 'committed-1', 'committed-2', 'committed-2', 'committed-2'], 'read_committed sees no aborted record');

    const internal = await kafka().admin();
    await internal.connect();
    try {
      // __consumer_offsets is made on the first search for a group's coordinator (nothing here reads
      // in a group); a broker learns of an internal topic a moment after the one that created it.
      const { topics } = await waitFor(
        async () => {
          await internal.describeGroups(['cluster-test-group']);
          return internal.fetchTopicMetadata({ topics: ['__transaction_state', '__consumer_offsets'] });
        },
        { timeoutMs: 60_000, message: 'the metadata of the internal topics' },
      );
      for (const t of topics) assert.ok(t.partitions.every((p) => p.replicas.length === 3), `${t.name} is replicated three times`);
    } finally {
      await internal.disconnect();
    }
  });

  /** Every committed record of the topic, read from the beginning by a new group (kafkajs reads committed only). */
  async function readAll(expected: number): Promise<string[]> {
    const reader = await new TopicReader(kafka(), [TOPIC]).start();
    try {
      const read = await waitFor(() => (reader.messages.length >= expected ? reader.messages : undefined), {
        timeoutMs: 60_000,
        message: `${expected} committed records`,
      });
      return read.map((m) => m.value!.toString());
    } finally {
      await reader.close();
    }
  }

  it('Redis Cluster: three masters with a replica each, cluster_state ok, and a key on each master', async () => {
    const cluster = redisCluster();
    try {
      const info = String(await cluster.cluster('INFO'));
      assert.match(info, /cluster_state:ok/);
      assert.match(info, /cluster_known_nodes:6/);
      assert.equal(cluster.nodes('master').length, 3);
      assert.equal(cluster.nodes('slave').length, 3);
      // CLUSTER SLOTS: [start, end, [host, port, id], replicas…] per range.
      const ranges = await cluster.cluster('SLOTS');
      const owner = (slot: number) => ranges.find(([start, end]) => slot >= start && slot <= end)![2]![1];
      for (let i = 0; keysPerMaster.size < 3 || new Set(keysPerMaster.values()).size < 3; i++) {
        const key = `cluster-test:${i}`;
        const port = owner(Number(await cluster.cluster('KEYSLOT', key)));
        if (![...keysPerMaster.values()].includes(port)) keysPerMaster.set(key, port);
      }
      for (const key of keysPerMaster.keys()) await cluster.set(key, `kept:${key}`);
      for (const [key, port] of keysPerMaster) {
        const master = cluster.nodes('master').find((node) => node.options.port === port)!;
        assert.equal(await master.get(key), `kept:${key}`, `${key} is on the master at ${port}`);
      }
    } finally {
      cluster.disconnect();
    }
  });

  it('Temporal: a workflow runs on the server, the default namespace keeps seven days, and there are four history shards; the Web UI answers', async () => {
    const connection = await connectNative(config.temporal);
    const client = await connectClient(config.temporal);
    try {
      const worker = await Worker.create({
        connection,
        taskQueue: TASK_QUEUE,
        workflowsPath: require.resolve('../fixtures/workflows'),
        activities: { greet: async (name: string) => `hello, ${name}` },
      });
      const result = await worker.runUntil(client.workflow.execute(greetingWorkflow, { taskQueue: TASK_QUEUE, workflowId: WORKFLOW_ID, args: ['cluster'] }));
      assert.equal(result, 'hello, cluster');
      const namespace = await client.workflowService.describeNamespace({ namespace: 'default' });
      assert.ok(Number(namespace.config?.workflowExecutionRetentionTtl?.seconds) >= SEVEN_DAYS_S, 'retention of at least 168 h');
      const info = await client.workflowService.getClusterInfo({});
      assert.equal(info.historyShardCount, 4);
      assert.equal(info.persistenceStore, 'postgres12');
      assert.equal((await fetch(config.temporal.uiUrl)).status, 200);
      // The UI server's own API, which it answers from the frontend: it reaches the server.
      const query = encodeURIComponent(`WorkflowId="${WORKFLOW_ID}"`);
      await waitFor(async () => (await (await fetch(`${config.temporal.uiUrl}/api/v1/namespaces/default/workflows?query=${query}`)).text()).includes(WORKFLOW_ID), {
        timeoutMs: 30_000,
        message: 'the Web UI to list the workflow',
      });
    } finally {
      await client.connection.close();
      await connection.close();
    }
  });

  it('down leaves no process running, and up again keeps the Kafka records, the Redis keys and the Temporal run', async () => {
    const procs = clusterServices(config, OPTIONS).map((s) => s.proc);
    const pids = procs.map((proc) => Number(readFileSync(proc.pidFile, 'utf8').split(' ')[0]));
    await clusterDown(config, quiet, OPTIONS);
    for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} stopped`);
    for (const proc of procs) assert.equal(existsSync(proc.pidFile), false, `${proc.name} has no pid file left`);

    const second = await clusterUp(config, quiet, OPTIONS);
    assert.deepEqual(new Set(second.values()), new Set(['started']));
    assert.equal((await readAll(6)).length, 6, 'the committed records are still there');
    const cluster = redisCluster();
    try {
      for (const key of keysPerMaster.keys()) assert.equal(await cluster.get(key), `kept:${key}`, `${key} survived (append-only files)`);
    } finally {
      cluster.disconnect();
    }
    const client = await connectClient(config.temporal);
    try {
      const run = await client.workflow.getHandle(WORKFLOW_ID).describe();
      assert.equal(run.status.name, 'COMPLETED', 'the earlier run is still in PostgreSQL');
    } finally {
      await client.connection.close();
    }
  });
});
