/**
 * Three KRaft nodes, each broker and controller at once (three JVMs rather than six on a 2-core
 * machine), one cluster id formatted into every log dir. Topics default to replication factor 3
 * with min.insync.replicas=2, the internal topics too, so that acks=all producers and Kafka
 * transactions survive the loss of any one node.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../../config';
import { createKafka } from '../../clients/kafka';
import { StackStartError } from '../../errors';
import { kafkaService, newClusterId, requireJava } from '../kafka';
import { stackLayout } from '../layout';
import { startDetached } from '../proc';
import type { Service } from '../service';
import { address, HOST, type ClusterLayout, type KafkaNode } from './layout';
import { lastLine, run } from './run';

/** Per JVM: a small heap and few GC and JIT threads, for three brokers beside everything else on 2 cores. */
const JVM_OPTIONS = [
  '-Xms128m',
  '-Xmx512m',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:ParallelGCThreads=1',
  '-XX:ConcGCThreads=1',
  '-XX:CICompilerCount=2',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.awt.headless=true',
];

export function kafkaBrokers(layout: ClusterLayout): string[] {
  return layout.kafka.nodes.map((node) => address(node.port));
}

export function kafkaNodeServices(config: Config, layout: ClusterLayout): Service[] {
  return layout.kafka.nodes.map((node) => ({
    name: node.name,
    label: `Kafka node ${node.nodeId}`,
    address: address(node.port),
    proc: node,
    startTimeoutMs: 120_000,
    // A KRaft broker answers metadata only once the quorum has elected a leader and it has registered.
    isHealthy: async () => (await brokersSeenBy(config, address(node.port))) > 0,
    install: async () => undefined,
    start: async () => startKafkaNode(config, layout, node),
  }));
}

/** The jars of the single-node stack (the same Kafka version, from the same cache). */
export async function ensureKafkaJars(config: Config, signal: AbortSignal): Promise<void> {
  requireJava(config);
  await kafkaService(config, stackLayout(config)).install?.(signal);
}

/** How many brokers the cluster has registered, as one broker reports it; 0 when it does not answer. */
export async function brokersSeenBy(config: Config, broker: string): Promise<number> {
  // Plain connections: the cluster profile has no SASL or TLS, whatever the environment says.
  const admin = createKafka({ ...config.kafka, brokers: [broker], sasl: undefined, ssl: undefined }, { fast: true }).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length;
  } catch {
    return 0;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function startKafkaNode(config: Config, layout: ClusterLayout, node: KafkaNode): Promise<void> {
  const java = requireJava(config);
  mkdirSync(node.dataDir, { recursive: true });
  writeFileSync(node.configFile, serverProperties(layout, node));
  writeFileSync(node.log4jFile, LOG4J_PROPERTIES);
  const classpath = `${stackLayout(config).kafkaLibs}/*`;
  const jvm = [`-Dlog4j.configuration=file:${node.log4jFile}`];
  await formatStorage(java, classpath, jvm, layout, node);
  startDetached(node, java, [...JVM_OPTIONS, ...jvm, '-cp', classpath, 'kafka.Kafka', node.configFile]);
}

/** Formats a node's log dir once (later formats are no-ops), with the cluster's one id. */
async function formatStorage(java: string, classpath: string, jvm: string[], layout: ClusterLayout, node: KafkaNode): Promise<void> {
  mkdirSync(layout.dir, { recursive: true });
  if (!existsSync(layout.kafka.clusterIdFile)) writeFileSync(layout.kafka.clusterIdFile, newClusterId());
  const clusterId = readFileSync(layout.kafka.clusterIdFile, 'utf8').trim();
  const result = await run(
    java,
    [...jvm, '-cp', classpath, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', node.configFile, '--ignore-formatted'],
    { timeoutMs: 60_000 },
  );
  mkdirSync(dirname(node.logFile), { recursive: true });
  appendFileSync(node.logFile, result.output);
  if (result.status !== 0) {
    throw new StackStartError(`Formatting the storage of ${node.name} failed: ${lastLine(result.output)}`, node.logFile);
  }
}

function serverProperties(layout: ClusterLayout, node: KafkaNode): string {
  const voters = layout.kafka.nodes.map((n) => `${n.nodeId}@${HOST}:${n.controllerPort}`).join(',');
  return `# Written by the login-pipeline stack (cluster profile) on each start; edit src/stack/cluster/kafka.ts instead.
process.roles=broker,controller
node.id=${node.nodeId}
controller.quorum.voters=${voters}
listeners=PLAINTEXT://${HOST}:${node.port},CONTROLLER://${HOST}:${node.controllerPort}
advertised.listeners=PLAINTEXT://${HOST}:${node.port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${node.dataDir}
num.partitions=1
auto.create.topics.enable=true
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=8
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
log.retention.hours=168
log.segment.bytes=268435456
`;
}

/** Everything to stdout, which is the node's log file: one log per process to point at. */
const LOG4J_PROPERTIES = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
`;

/** Once every node answers: all three have registered as brokers. */
export async function kafkaClusterFormed(config: Config, layout: ClusterLayout): Promise<boolean> {
  const seen = await Promise.all(kafkaBrokers(layout).map((broker) => brokersSeenBy(config, broker)));
  return seen.every((n) => n === layout.kafka.nodes.length);
}
