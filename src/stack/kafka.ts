/** Apache Kafka from its jars (Maven Central): a single-node KRaft broker. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config';
import { createKafka } from '../clients/kafka';
import { PrerequisiteError, StackStartError } from '../errors';
import { cacheLock, hostAndPort, KAFKA_LOG_RETENTION_HOURS, KAFKA_VERSION, SCALA_VERSION, type StackLayout } from './layout';
import { withLock } from './lock';
import { runSync, startDetached, which } from './proc';
import { runStep } from './provision';
import type { Service } from './service';

/**
 * A second listener for trying secured clients locally: SASL (PLAIN, SCRAM-SHA-256/512) over
 * TLS, with SCRAM users created when the storage is formatted.
 */
export interface SecureListener {
  port: number;
  /** PEM file with the broker's private key (PKCS#8) followed by its certificate chain. */
  keystorePem: string;
  users: { name: string; password: string }[];
}

export function kafkaService(config: Config, layout: StackLayout, secure?: SecureListener): Service {
  const broker = config.kafka.brokers[0]!;
  const { host, port } = hostAndPort(broker);
  return {
    name: 'kafka',
    label: 'Kafka',
    address: broker,
    proc: layout.kafka,
    startTimeoutMs: 90_000,
    isHealthy: () => kafkaAnswers(config),
    install: (signal) => ensureKafkaJars(config, layout, signal),
    start: () => startKafka(config, layout, host, port, secure),
  };
}

/** A metadata request answered by the broker. */
export async function kafkaAnswers(config: Config): Promise<boolean> {
  const admin = createKafka({ ...config.kafka, brokers: [config.kafka.brokers[0]!] }, { fast: true }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The java binary Kafka runs on; one sentence naming what to install when there is none. */
export function requireJava(config: Config): string {
  const java = which('java', config.stack.searchPath);
  if (!java) throw new PrerequisiteError('Kafka needs Java: install a JDK 17 or newer (Debian: apt-get install openjdk-17-jdk-headless).');
  return java;
}

async function ensureKafkaJars(config: Config, layout: StackLayout, signal: AbortSignal): Promise<void> {
  requireJava(config);
  if (config.stack.kafkaHome) {
    if (!existsSync(layout.kafkaLibs)) {
      throw new PrerequisiteError(`KAFKA_HOME is set to ${config.stack.kafkaHome}, but it has no libs/ folder of Kafka jars.`);
    }
    return;
  }
  const brokerJar = join(layout.kafkaLibs, `kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar`);
  if (existsSync(brokerJar)) return;
  const mvn = which('mvn', config.stack.searchPath);
  if (!mvn) throw new PrerequisiteError('Kafka is fetched from Maven Central with Maven: install Maven (Debian: apt-get install maven), or set KAFKA_HOME to a Kafka installation.');
  const report = (line: string) => process.stderr.write(`${line}\n`);
  await withLock(
    cacheLock(config, 'kafka-jars'),
    "fetching Apache Kafka's jars",
    async (lock) => {
      // The command we waited for may have fetched them.
      if (existsSync(brokerJar)) return;
      const home = dirname(layout.kafkaLibs);
      // What an interrupted fetch left is ours now: start it again from nothing.
      const staging = `${home}.partial`;
      rmSync(staging, { recursive: true, force: true });
      mkdirSync(staging, { recursive: true });
      try {
        writeFileSync(join(staging, 'pom.xml'), kafkaPom());
        report(`Fetching Apache Kafka ${KAFKA_VERSION} jars from Maven Central into ${home} (first run only)…`);
        await runStep(mvn, ['-q', '-B', '-Dstyle.color=never', 'dependency:copy-dependencies', '-DincludeScope=runtime', '-DoutputDirectory=libs'], {
          label: "Maven, fetching Kafka's jars",
          cwd: staging,
          signal,
          guard: lock,
        });
        rmSync(home, { recursive: true, force: true });
        renameSync(staging, home);
      } finally {
        rmSync(staging, { recursive: true, force: true });
      }
    },
    { searchPath: config.stack.searchPath, signal, report },
  );
}

/** The broker and an SLF4J binding: without one, Kafka 3.9 logs nothing at all. */
function kafkaPom(): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.login-pipeline</groupId><artifactId>kafka-dist</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${SCALA_VERSION}</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
`;
}

async function startKafka(config: Config, layout: StackLayout, host: string, port: number, secure?: SecureListener): Promise<void> {
  const java = requireJava(config);
  mkdirSync(layout.kafka.dataDir, { recursive: true });
  writeFileSync(layout.kafka.configFile, serverProperties(layout, host, port) + (secure ? secureProperties(host, port, secure) : ''));
  writeFileSync(layout.kafka.log4jFile, log4jProperties(join(layout.dir, 'logs'), config.stack.kafkaRequestLog));
  const classpath = `${layout.kafkaLibs}/*`;
  const jvm = [`-Dlog4j.configuration=file:${layout.kafka.log4jFile}`, `-Dkafka.logs.dir=${join(layout.dir, 'logs')}`];
  formatStorage(java, classpath, jvm, layout, secure);
  startDetached(layout.kafka, java, [
    '-Xms256m',
    '-Xmx1g',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    ...jvm,
    '-cp',
    classpath,
    'kafka.Kafka',
    layout.kafka.configFile,
  ]);
}

/** Formats the log directory once; the cluster id is kept so that later starts find their data. */
function formatStorage(java: string, classpath: string, jvm: string[], layout: StackLayout, secure?: SecureListener): void {
  if (!existsSync(layout.kafka.clusterIdFile)) {
    writeFileSync(layout.kafka.clusterIdFile, newClusterId());
  }
  const clusterId = readFileSync(layout.kafka.clusterIdFile, 'utf8').trim();
  const result = runSync(
    java,
    [
      ...jvm,
      '-cp',
      classpath,
      'kafka.tools.StorageTool',
      'format',
      // One argument: an id that starts with "-" (as one written by an earlier version may) would read as an option.
      `--cluster-id=${clusterId}`,
      '-c',
      layout.kafka.configFile,
      '--ignore-formatted',
      ...(secure?.users.flatMap((u) =>
        ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${u.name},password=${u.password}]`]),
      ) ?? []),
    ],
    { timeoutMs: 60_000 },
  );
  if (result.status !== 0) throw new StackStartError(`Kafka storage format failed: ${result.output.trim().split('\n').pop()}`);
}

/** A random cluster id as Kafka makes one: base64url of 16 bytes, never starting with "-" (the storage tool would read it as an option). */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function serverProperties(layout: StackLayout, host: string, port: number): string {
  const controllerPort = port + 1;
  return `# Written by the login-pipeline stack on each start; edit src/stack/kafka.ts instead.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${host}:${controllerPort}
listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}
advertised.listeners=PLAINTEXT://${host}:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${layout.kafka.dataDir}
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
min.insync.replicas=1
default.replication.factor=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=${KAFKA_LOG_RETENTION_HOURS}
log.segment.bytes=268435456
`;
}

/** Later keys win in a properties file: these replace the listener settings above. */
function secureProperties(host: string, port: number, secure: SecureListener): string {
  const plainUsers = secure.users.map((u) => `user_${u.name}="${u.password}"`).join(' ');
  return `
# The secured listener (SASL over TLS).
listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${port + 1},SASL_SSL://${host}:${secure.port}
advertised.listeners=PLAINTEXT://${host}:${port},SASL_SSL://${host}:${secure.port}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=${secure.keystorePem}
`;
}

/**
 * Kafka's own logging. With `requestLog` (KAFKA_REQUEST_LOG) the broker also writes every request
 * it answers to kafka-request.log, with its time in the request queue, in the handler (local), in
 * purgatory (remote) and in sending: how Kafka's intake of a record can be told from the pipeline's
 * work when a latency is looked into.
 */
function log4jProperties(logDir: string, requestLog = false): string {
  return `log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${logDir}/kafka-server.log
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
${requestLog ? requestLogProperties(logDir) : 'log4j.logger.kafka.request.logger=WARN\n'}`;
}

function requestLogProperties(logDir: string): string {
  return `log4j.logger.kafka.request.logger=DEBUG, requests
log4j.additivity.kafka.request.logger=false
log4j.appender.requests=org.apache.log4j.RollingFileAppender
log4j.appender.requests.File=${logDir}/kafka-request.log
log4j.appender.requests.MaxFileSize=100MB
log4j.appender.requests.MaxBackupIndex=3
log4j.appender.requests.layout=org.apache.log4j.PatternLayout
log4j.appender.requests.layout.ConversionPattern=[%d] %m%n
`;
}
