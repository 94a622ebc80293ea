/**
 * The one place that reads the environment. Every process parses it once at start; a bad
 * value stops the process with one message naming every bad variable (CONTRACT.md).
 */
import { homedir } from 'node:os';
import { delimiter, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors';

export { ConfigError };

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
/** `auto`, or a whole number from 1 to `max`. */
const autoOrCount = (max: number) => z.union([z.literal('auto'), positiveInt.max(max)], { error: `expected auto or a whole number from 1 to ${max}` });
const nonEmpty = z.string().trim().min(1);
const boolFlag = z.stringbool({ truthy: ['1', 'true', 'yes', 'on'], falsy: ['0', 'false', 'no', 'off', ''] });
const hostPort = nonEmpty.regex(/^[^\s:,]+:\d{1,5}$/, 'expected host:port');
const optionalText = z.string().trim().optional().transform((v) => (v ? v : undefined));

/** Each variable: its schema and default. The defaults are the contract's. */
const schema = z.object({
  KAFKA_BROKERS: z
    .string()
    .default('127.0.0.1:9092')
    .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
    .pipe(z.array(hostPort).min(1, 'expected at least one host:port')),
  KAFKA_GROUP_ID: nonEmpty.default('login-pipeline'),
  KAFKA_CLIENT_ID: nonEmpty.default('login-pipeline'),
  INPUT_TOPIC: nonEmpty.default('user-login'),
  OUTPUT_TOPIC: nonEmpty.default('processed-topic'),
  DLQ_TOPIC: nonEmpty.default('user-login-dlq'),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: optionalText,
  KAFKA_SASL_PASSWORD: optionalText,
  KAFKA_SSL: boolFlag.default(false),
  KAFKA_SSL_CA_FILE: optionalText,
  KAFKA_SSL_CERT_FILE: optionalText,
  KAFKA_SSL_KEY_FILE: optionalText,
  KAFKA_SSL_REJECT_UNAUTHORIZED: boolFlag.default(true),
  TEMPORAL_ADDRESS: hostPort.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: nonEmpty.default('default'),
  TEMPORAL_TASK_QUEUE: nonEmpty.default('login-pipeline'),
  TEMPORAL_UI_URL: optionalText,
  TEMPORAL_TLS: boolFlag.default(false),
  TEMPORAL_TLS_CA_FILE: optionalText,
  TEMPORAL_TLS_CERT_FILE: optionalText,
  TEMPORAL_TLS_KEY_FILE: optionalText,
  TEMPORAL_TLS_SERVER_NAME: optionalText,
  TEMPORAL_API_KEY: optionalText,
  INSIGHTS_WORKFLOW_ID: nonEmpty.default('login-insights'),
  REDIS_URL: nonEmpty
    .default('redis://127.0.0.1:6379')
    .refine((u) => /^rediss?:\/\/[^\s]+$/.test(u), 'expected redis://… or rediss://…'),
  /**
   * Seed nodes of a Redis Cluster (host:port, comma-separated). Set, every process uses ioredis's
   * Cluster client on them, and REDIS_URL gives only the password and TLS (its host is not used).
   */
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .transform((s) => (s ?? '').split(',').map((n) => n.trim()).filter(Boolean))
    .pipe(z.array(hostPort)),
  // Braces would move keys out of the hash tags that keep each script's keys in one slot.
  REDIS_PREFIX: z.string().regex(/^[^{}]*$/, 'must not contain { or }').default('lp:'),
  REDIS_TLS_CA_FILE: optionalText,
  /** Replicas that must have a batch's aggregates (Redis WAIT) before its outputs are published. */
  REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).max(16).optional(),
  // OpenTelemetry (the standard variables; tracing is off unless an OTLP endpoint is given).
  OTEL_SDK_DISABLED: boolFlag.default(false),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none']).default('otlp'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_HEADERS: optionalText,
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: optionalText,
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf'], 'only http/protobuf is supported (the collector\'s port 4318)').optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.enum(['http/protobuf'], 'only http/protobuf is supported (the collector\'s port 4318)').optional(),
  OTEL_SERVICE_NAME: optionalText,
  OTEL_RESOURCE_ATTRIBUTES: optionalText,
  SUMMARY_INTERVAL_SECONDS: positiveInt.default(60),
  SUMMARY_WINDOW_SECONDS: positiveInt.default(300),
  AGGREGATE_BUCKET_SECONDS: positiveInt.default(60),
  AGGREGATE_RETENTION_SECONDS: positiveInt.default(86_400),
  BATCH_MAX_RECORDS: positiveInt.max(1_000_000).default(25_000),
  BATCH_MAX_WAIT_MS: positiveInt.max(60_000).default(200),
  BATCH_MAX_BYTES: positiveInt.min(1024).max(256 * 1024 * 1024).default(1024 * 1024),
  BRIDGE_MAX_IN_FLIGHT: positiveInt.max(256).default(8),
  BRIDGE_ON_MISSING_OFFSETS: z.enum(['stop', 'earliest']).default('stop'),
  BATCH_ATTEMPT_TIMEOUT_MS: positiveInt.min(1_000).max(3_600_000).default(120_000),
  WORKER_MAX_CONCURRENT_BATCHES: autoOrCount(1000).default('auto'),
  WORKER_PROCESSES: autoOrCount(64).default('auto'),
  /** Set by the worker's supervisor on the processes it starts; not a setting for users. */
  WORKER_PROCESS_INDEX: z.coerce.number().int().min(0).optional(),
  OUTPUT_MAX_MESSAGE_BYTES: positiveInt.default(1_000_000),
  IP_MASKING: z.enum(['none', 'truncate']).default('none'),
  /**
   * A rule widened through configuration: app versions that also match this regular expression
   * are valid, besides the contract's pattern. Unset (the default), the contract's rule alone.
   */
  APP_VERSION_EXTRA_PATTERN: optionalText.refine((p) => p === undefined || compiles(p), 'expected a valid regular expression'),
  /**
   * The bridge's circuit breaker (src/bridge/breaker.ts): off unless DLQ_MAX_RATIO is set. The
   * input pauses when more than this share of the records of the last DLQ_MIN_RECORDS (at least)
   * were dead-lettered.
   */
  DLQ_MAX_RATIO: z.coerce.number().gt(0).lt(1).optional(),
  DLQ_MIN_RECORDS: positiveInt.max(10_000_000).optional(),
  STACK_DIR: nonEmpty.default('.data'),
  STACK_CACHE_DIR: optionalText,
  KAFKA_HOME: optionalText,
  /**
   * The local stack's Kafka writes every request it answers, with where its time went (queue,
   * local, remote, send), to its logs folder: for finding out whether a latency is Kafka's intake.
   */
  KAFKA_REQUEST_LOG: boolFlag.default(false),
  BRIDGE_HTTP_PORT: port.default(9464),
  WORKER_HTTP_PORT: port.default(9465),
  DASHBOARD_PORT: port.default(3000),
  /** Loopback by default: the dashboard has no authentication. Containers set 0.0.0.0. */
  DASHBOARD_HOST: nonEmpty.default('127.0.0.1'),
  /** Where the dashboard asks the bridge for its breaker's state: by default the bridge's ops port on loopback. */
  DASHBOARD_BRIDGE_URL: optionalText.refine((u) => u === undefined || /^https?:\/\/[^\s/]+\/?$/.test(u), 'expected http://host:port'),
  /** The bridge, the worker and its engines kill themselves when their event loop has not turned for this long (src/process/watchdog.ts); 0: never. */
  EVENT_LOOP_STALL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(30),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
});

type Env = z.infer<typeof schema>;

/** The breaker's window when only DLQ_MAX_RATIO is given: large enough that a few bad records in a row never trip it. */
export const DEFAULT_DLQ_MIN_RECORDS = 1000;

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern, 'u');
    return true;
  } catch {
    return false;
  }
}

/** Every variable the product reads, for documentation and for checking deployment manifests. */
export const ENVIRONMENT_VARIABLES: readonly string[] = Object.keys(schema.shape);

export type SaslMechanism = NonNullable<Env['KAFKA_SASL_MECHANISM']>;

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  groupId: string;
  inputTopic: string;
  outputTopic: string;
  dlqTopic: string;
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
  ssl?: { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized: boolean };
}

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  insightsWorkflowId: string;
  uiUrl: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string; serverName?: string };
  apiKey?: string;
}

export interface Config {
  kafka: KafkaConfig;
  temporal: TemporalConfig;
  redis: {
    url: string;
    prefix: string;
    tlsCaFile?: string;
    /** Set: a Redis Cluster with these seed nodes (ioredis's Cluster client); REDIS_URL then gives only credentials and TLS. */
    clusterNodes?: { host: string; port: number }[];
    /** Replicas that must acknowledge a batch's aggregates before it publishes: 1 on a cluster, 0 on a single Redis, by default. */
    waitReplicas: number;
  };
  /** Undefined: tracing off (no provider, no exporter, no interceptors). */
  tracing?: TracingConfig;
  summary: { intervalSeconds: number; windowSeconds: number };
  aggregates: { bucketSeconds: number; retentionSeconds: number };
  /**
   * maxRecords: offsets per batch at most; maxWaitMs: the longest a record waits for its batch to
   * be cut; maxBytes: input bytes the worker reads and publishes per transaction (a chunk);
   * maxInFlight: the bridge's lanes, each with one batch in flight at most; attemptTimeoutMs: how
   * long one attempt at a batch may take before Temporal starts another (the first is cancelled).
   */
  batch: { maxRecords: number; maxWaitMs: number; maxBytes: number; maxInFlight: number; attemptTimeoutMs: number };
  /** breaker: undefined when off (DLQ_MAX_RATIO unset). */
  bridge: { onMissingOffsets: 'stop' | 'earliest'; breaker?: { maxRatio: number; minRecords: number } };
  worker: {
    /** Batches at once per worker: 'auto' is two per engine process (src/worker/capacity.ts). */
    maxConcurrentBatches: 'auto' | number;
    outputMaxMessageBytes: number;
    ipMasking: 'none' | 'truncate';
    /** Worker processes `npm run worker` runs: 'auto' is one per CPU this process may use. */
    processes: 'auto' | number;
    /** This process's place among them, when a supervisor started it. */
    processIndex?: number;
  };
  /** Record rules beyond the contract's, set through configuration (undefined: the contract's alone). */
  rules: { appVersionExtraPattern?: string };
  stack: { dir: string; cacheDir: string; kafkaHome?: string; kafkaRequestLog: boolean; searchPath: string[] };
  /** bridgeUrl: the bridge's ops server as the dashboard reaches it; undefined when unknown (BRIDGE_HTTP_PORT=0). */
  http: { bridgePort: number; workerPort: number; dashboardPort: number; dashboardHost: string; bridgeUrl?: string };
  log: { level: Env['LOG_LEVEL']; format: Env['LOG_FORMAT'] };
  /** stallSeconds: a service whose event loop has not turned for this long is killed (0: never). */
  watchdog: { stallSeconds: number };
}

export interface TracingConfig {
  /** The OTLP/HTTP (protobuf) traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
  url: string;
  headers: Record<string, string>;
  /** OTEL_SERVICE_NAME; each process names itself (login-pipeline-bridge, …) when unset. */
  serviceName?: string;
  resourceAttributes: Record<string, string>;
}

export type Environment = Record<string, string | undefined>;

/** Parses an environment (the process's by default) into a validated Config. */
export function loadConfig(env: Environment = process.env): Config {
  const parsed = schema.safeParse(withoutBlanks(env));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`);
    throw new ConfigError([...new Set(problems)]);
  }
  const e = parsed.data;
  const problems = crossFieldProblems(e);
  if (problems.length > 0) throw new ConfigError(problems);
  return toConfig(e, env);
}

/** An empty variable means "not set", as in most twelve-factor tools. */
function withoutBlanks(env: Environment): Environment {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
}

function crossFieldProblems(e: Env): string[] {
  const problems: string[] = [];
  if (e.KAFKA_SASL_MECHANISM && (!e.KAFKA_SASL_USERNAME || !e.KAFKA_SASL_PASSWORD)) {
    problems.push('KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: required when KAFKA_SASL_MECHANISM is set');
  }
  if (Boolean(e.TEMPORAL_TLS_CERT_FILE) !== Boolean(e.TEMPORAL_TLS_KEY_FILE)) {
    problems.push('TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE: give both or neither');
  }
  if (Boolean(e.KAFKA_SSL_CERT_FILE) !== Boolean(e.KAFKA_SSL_KEY_FILE)) {
    problems.push('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE: give both or neither');
  }
  if (new Set([e.INPUT_TOPIC, e.OUTPUT_TOPIC, e.DLQ_TOPIC]).size < 3) {
    problems.push('INPUT_TOPIC, OUTPUT_TOPIC and DLQ_TOPIC: must be three different topics');
  }
  if (e.DLQ_MIN_RECORDS !== undefined && e.DLQ_MAX_RATIO === undefined) {
    problems.push('DLQ_MIN_RECORDS: has no effect without DLQ_MAX_RATIO, which turns the circuit breaker on');
  }
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_RESOURCE_ATTRIBUTES'] as const) {
    if (keyValueList(e[name]) === undefined) problems.push(`${name}: expected key=value pairs separated by commas`);
  }
  if (e.SUMMARY_WINDOW_SECONDS % e.AGGREGATE_BUCKET_SECONDS !== 0) {
    problems.push('SUMMARY_WINDOW_SECONDS: must be a multiple of AGGREGATE_BUCKET_SECONDS');
  }
  return problems;
}

function toConfig(e: Env, env: Environment): Config {
  const temporalTls =
    e.TEMPORAL_TLS || e.TEMPORAL_TLS_CERT_FILE || e.TEMPORAL_TLS_CA_FILE || e.TEMPORAL_API_KEY
      ? {
          caFile: e.TEMPORAL_TLS_CA_FILE,
          certFile: e.TEMPORAL_TLS_CERT_FILE,
          keyFile: e.TEMPORAL_TLS_KEY_FILE,
          serverName: e.TEMPORAL_TLS_SERVER_NAME,
        }
      : undefined;
  const kafkaSsl =
    e.KAFKA_SSL || e.KAFKA_SSL_CA_FILE || e.KAFKA_SSL_CERT_FILE
      ? {
          caFile: e.KAFKA_SSL_CA_FILE,
          certFile: e.KAFKA_SSL_CERT_FILE,
          keyFile: e.KAFKA_SSL_KEY_FILE,
          rejectUnauthorized: e.KAFKA_SSL_REJECT_UNAUTHORIZED,
        }
      : undefined;
  return {
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      groupId: e.KAFKA_GROUP_ID,
      inputTopic: e.INPUT_TOPIC,
      outputTopic: e.OUTPUT_TOPIC,
      dlqTopic: e.DLQ_TOPIC,
      sasl: e.KAFKA_SASL_MECHANISM
        ? { mechanism: e.KAFKA_SASL_MECHANISM, username: e.KAFKA_SASL_USERNAME!, password: e.KAFKA_SASL_PASSWORD! }
        : undefined,
      ssl: kafkaSsl,
    },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      insightsWorkflowId: e.INSIGHTS_WORKFLOW_ID,
      uiUrl: e.TEMPORAL_UI_URL ?? defaultUiUrl(e.TEMPORAL_ADDRESS),
      tls: temporalTls,
      apiKey: e.TEMPORAL_API_KEY,
    },
    redis: {
      url: e.REDIS_URL,
      prefix: e.REDIS_PREFIX,
      tlsCaFile: e.REDIS_TLS_CA_FILE,
      clusterNodes: e.REDIS_CLUSTER_NODES.length > 0 ? e.REDIS_CLUSTER_NODES.map(hostAndPort) : undefined,
      waitReplicas: e.REDIS_WAIT_REPLICAS ?? (e.REDIS_CLUSTER_NODES.length > 0 ? 1 : 0),
    },
    tracing: tracingConfig(e),
    summary: { intervalSeconds: e.SUMMARY_INTERVAL_SECONDS, windowSeconds: e.SUMMARY_WINDOW_SECONDS },
    aggregates: { bucketSeconds: e.AGGREGATE_BUCKET_SECONDS, retentionSeconds: e.AGGREGATE_RETENTION_SECONDS },
    batch: {
      maxRecords: e.BATCH_MAX_RECORDS,
      maxWaitMs: e.BATCH_MAX_WAIT_MS,
      maxBytes: e.BATCH_MAX_BYTES,
      maxInFlight: e.BRIDGE_MAX_IN_FLIGHT,
      attemptTimeoutMs: e.BATCH_ATTEMPT_TIMEOUT_MS,
    },
    bridge: {
      onMissingOffsets: e.BRIDGE_ON_MISSING_OFFSETS,
      breaker: e.DLQ_MAX_RATIO === undefined ? undefined : { maxRatio: e.DLQ_MAX_RATIO, minRecords: e.DLQ_MIN_RECORDS ?? DEFAULT_DLQ_MIN_RECORDS },
    },
    worker: {
      maxConcurrentBatches: e.WORKER_MAX_CONCURRENT_BATCHES,
      processes: e.WORKER_PROCESSES,
      processIndex: e.WORKER_PROCESS_INDEX,
      outputMaxMessageBytes: e.OUTPUT_MAX_MESSAGE_BYTES,
      ipMasking: e.IP_MASKING,
    },
    rules: { appVersionExtraPattern: e.APP_VERSION_EXTRA_PATTERN },
    stack: {
      dir: resolve(e.STACK_DIR),
      cacheDir: resolve(e.STACK_CACHE_DIR ?? `${homedir()}/.cache/login-pipeline`),
      kafkaHome: e.KAFKA_HOME,
      kafkaRequestLog: e.KAFKA_REQUEST_LOG,
      searchPath: (env.PATH ?? '').split(delimiter).filter(Boolean),
    },
    http: {
      bridgePort: e.BRIDGE_HTTP_PORT,
      workerPort: e.WORKER_HTTP_PORT,
      dashboardPort: e.DASHBOARD_PORT,
      dashboardHost: e.DASHBOARD_HOST,
      bridgeUrl: (e.DASHBOARD_BRIDGE_URL ?? (e.BRIDGE_HTTP_PORT === 0 ? undefined : `http://127.0.0.1:${e.BRIDGE_HTTP_PORT}`))?.replace(/\/$/, ''),
    },
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
    watchdog: { stallSeconds: e.EVENT_LOOP_STALL_SECONDS },
  };
}

/**
 * Tracing is on when an OTLP endpoint is given and neither OTEL_SDK_DISABLED nor
 * OTEL_TRACES_EXPORTER=none turns it off. Off by default (the spec's default exporter is otlp
 * to localhost; here nothing is exported, nor even recorded, unless asked for).
 */
function tracingConfig(e: Env): TracingConfig | undefined {
  if (e.OTEL_SDK_DISABLED || e.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const url = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!url) return undefined;
  return {
    url,
    headers: { ...keyValueList(e.OTEL_EXPORTER_OTLP_HEADERS), ...keyValueList(e.OTEL_EXPORTER_OTLP_TRACES_HEADERS) },
    serviceName: e.OTEL_SERVICE_NAME,
    resourceAttributes: keyValueList(e.OTEL_RESOURCE_ATTRIBUTES) ?? {},
  };
}

/** The W3C Baggage-like `k=v,k2=v2` form of the OTEL_* lists (values percent-decoded); undefined when malformed. */
function keyValueList(text: string | undefined): Record<string, string> | undefined {
  const pairs: Record<string, string> = {};
  for (const part of (text ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    try {
      pairs[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return pairs;
}

function hostAndPort(node: string): { host: string; port: number } {
  const i = node.lastIndexOf(':');
  return { host: node.slice(0, i), port: Number(node.slice(i + 1)) };
}

/** The dev server puts its UI 1000 ports above the frontend (7233 → 8233). */
function defaultUiUrl(address: string): string {
  const [host, p] = address.split(':');
  return `http://${host}:${Number(p) + 1000}`;
}

/** The process's own environment: read here and nowhere else (CONTRACT: one module reads process.env). */
export function processEnvironment(): Environment {
  return process.env;
}

/** Whether stdout is an interactive terminal (pretty logs, progress bars). */
export function isInteractive(): boolean {
  return Boolean(process.stdout.isTTY) && process.env.CI === undefined;
}
