/**
 * The cluster profile's ports, state folders (STACK_DIR/cluster) and binaries (in the cache).
 *
 * Every fixed port is below 32768, out of Linux's ephemeral range, and in a block of its own
 * (11001-12233; Redis Cluster also takes each node's port + 10000, 21001-21006, for its bus), apart
 * from the single-node stack's (Kafka 9092-9093, Temporal 7233 and 8233, Redis 6379) and from the
 * dedicated services of the tests (16379, 19092-19093, 22092-29093), so that all of them can run
 * side by side.
 */
import { join } from 'node:path';
import type { Config } from '../../config';
import type { ManagedProcess } from '../proc';

export const TEMPORAL_SERVER_VERSION = '1.29.1';
export const TEMPORAL_UI_SERVER_VERSION = '2.42.1';
export const HISTORY_SHARDS = 4;
/** Seven days, in the form the Temporal CLI takes. */
export const NAMESPACE_RETENTION = '168h';

export interface ClusterPorts {
  kafkaBrokers: number[];
  kafkaControllers: number[];
  redis: number[];
  postgres: number;
  temporal: { frontend: number; frontendHttp: number; history: number; matching: number; worker: number; metrics: number };
  /** Ringpop's membership ports, one per Temporal service. */
  temporalMembership: { frontend: number; history: number; matching: number; worker: number };
  temporalUi: number;
}

/** The default ports; `portOffset` moves all of them (a test's own cluster beside a running one). */
export function clusterPorts(portOffset = 0): ClusterPorts {
  const at = (port: number) => port + portOffset;
  return {
    kafkaBrokers: [11092, 11093, 11094].map(at),
    kafkaControllers: [11192, 11193, 11194].map(at),
    redis: [11001, 11002, 11003, 11004, 11005, 11006].map(at),
    postgres: at(11432),
    temporal: {
      frontend: at(11233),
      frontendHttp: at(11243),
      history: at(11234),
      matching: at(11235),
      worker: at(11239),
      metrics: at(11290),
    },
    temporalMembership: { frontend: at(11933), history: at(11934), matching: at(11935), worker: at(11939) },
    temporalUi: at(12233),
  };
}

export interface ClusterOptions {
  /** Added to every port (default 0). */
  portOffset?: number;
}

export const HOST = '127.0.0.1';

export type KafkaNode = ManagedProcess & {
  nodeId: number;
  port: number;
  controllerPort: number;
  dataDir: string;
  configFile: string;
  log4jFile: string;
};
export type RedisNode = ManagedProcess & { port: number; dataDir: string; configFile: string };

export interface ClusterLayout {
  dir: string;
  ports: ClusterPorts;
  kafka: { nodes: KafkaNode[]; clusterIdFile: string };
  redis: { nodes: RedisNode[]; createLogFile: string };
  postgres: ManagedProcess & { port: number; dir: string; dataDir: string };
  temporal: ManagedProcess & { dir: string; configDir: string; dynamicConfigFile: string; schemaLogFile: string };
  ui: ManagedProcess & { dir: string; configDir: string };
  binaries: { server: string; sqlTool: string; uiServer: string };
}

export function clusterLayout(config: Config, options: ClusterOptions = {}): ClusterLayout {
  const dir = join(config.stack.dir, 'cluster');
  const ports = clusterPorts(options.portOffset);
  const managed = (name: string): ManagedProcess => ({
    name,
    pidFile: join(dir, 'run', `${name}.pid`),
    logFile: join(dir, 'logs', `${name}.log`),
  });
  const serverDir = join(config.stack.cacheDir, `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  return {
    dir,
    ports,
    kafka: {
      clusterIdFile: join(dir, 'kafka-cluster-id'),
      nodes: ports.kafkaBrokers.map((port, i) => {
        const name = `kafka-${i + 1}`;
        return {
          ...managed(name),
          nodeId: i + 1,
          port,
          controllerPort: ports.kafkaControllers[i]!,
          dataDir: join(dir, name, 'data'),
          configFile: join(dir, name, 'server.properties'),
          log4jFile: join(dir, name, 'log4j.properties'),
        };
      }),
    },
    redis: {
      createLogFile: join(dir, 'logs', 'redis-cluster-create.log'),
      nodes: ports.redis.map((port, i) => {
        const name = `redis-${i + 1}`;
        return { ...managed(name), port, dataDir: join(dir, name), configFile: join(dir, name, 'redis.conf') };
      }),
    },
    postgres: { ...managed('postgres'), port: ports.postgres, dir: join(dir, 'postgres'), dataDir: join(dir, 'postgres', 'data') },
    temporal: {
      ...managed('temporal'),
      dir: join(dir, 'temporal'),
      configDir: join(dir, 'temporal', 'config'),
      dynamicConfigFile: join(dir, 'temporal', 'dynamicconfig.yaml'),
      schemaLogFile: join(dir, 'logs', 'temporal-schema.log'),
    },
    ui: { ...managed('temporal-ui'), dir: join(dir, 'temporal-ui'), configDir: join(dir, 'temporal-ui', 'config') },
    binaries: {
      server: join(serverDir, 'temporal-server'),
      sqlTool: join(serverDir, 'temporal-sql-tool'),
      uiServer: join(config.stack.cacheDir, `temporal-ui-server-${TEMPORAL_UI_SERVER_VERSION}`, 'temporal-ui-server'),
    },
  };
}

export const address = (port: number) => `${HOST}:${port}`;
