import assert from 'node:assert/strict';
import { ConfigError, ENVIRONMENT_VARIABLES, loadConfig } from '../../src/config';

describe('config', () => {
  it('defaults to the values of the contract (docs/contract.md)', () => {
    const c = loadConfig({});
    assert.deepEqual(c.kafka.brokers, ['127.0.0.1:9092']);
    assert.equal(c.kafka.groupId, 'login-pipeline');
    assert.equal(c.kafka.inputTopic, 'user-login');
    assert.equal(c.kafka.outputTopic, 'processed-topic');
    assert.equal(c.kafka.dlqTopic, 'user-login-dlq');
    assert.equal(c.temporal.address, '127.0.0.1:7233');
    assert.equal(c.temporal.namespace, 'default');
    assert.equal(c.temporal.taskQueue, 'login-pipeline');
    assert.equal(c.temporal.insightsWorkflowId, 'login-insights');
    assert.equal(c.temporal.uiUrl, 'http://127.0.0.1:8233');
    assert.equal(c.redis.url, 'redis://127.0.0.1:6379');
    assert.equal(c.redis.prefix, 'lp:');
    assert.equal(c.summary.intervalSeconds, 60);
    assert.equal(c.summary.windowSeconds, 300);
    assert.equal(c.batch.maxRecords, 25_000);
    assert.equal(c.batch.maxWaitMs, 200);
    assert.match(c.stack.dir, /\.data$/);
    assert.equal(c.http.bridgePort, 9464);
    assert.equal(c.http.workerPort, 9465);
    assert.equal(c.http.dashboardPort, 3000);
    assert.equal(c.log.level, 'info');
    assert.equal(c.watchdog.stallSeconds, 30);
  });

  it('turns the event-loop watchdog off with 0 and rejects a negative or fractional limit', () => {
    assert.equal(loadConfig({ EVENT_LOOP_STALL_SECONDS: '0' }).watchdog.stallSeconds, 0);
    for (const bad of ['-1', '1.5', 'soon']) assert.throws(() => loadConfig({ EVENT_LOOP_STALL_SECONDS: bad }), /EVENT_LOOP_STALL_SECONDS/);
  });

  it("leaves the local Kafka's request log off unless KAFKA_REQUEST_LOG turns it on", () => {
    assert.equal(loadConfig({}).stack.kafkaRequestLog, false);
    assert.equal(loadConfig({ KAFKA_REQUEST_LOG: 'true' }).stack.kafkaRequestLog, true);
    assert.throws(() => loadConfig({ KAFKA_REQUEST_LOG: 'verbose' }), /KAFKA_REQUEST_LOG/);
  });

  it('names every bad variable in one error', () => {
    assert.throws(
      () => loadConfig({ BATCH_MAX_RECORDS: 'many', KAFKA_BROKERS: 'no-port', LOG_LEVEL: 'loud', REDIS_URL: 'http://x' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        for (const name of ['BATCH_MAX_RECORDS', 'KAFKA_BROKERS', 'LOG_LEVEL', 'REDIS_URL']) assert.match(err.message, new RegExp(name));
        assert.equal(err.message.split('\n').length, 1);
        return true;
      },
    );
  });

  it('parses lists, numbers and flags', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'a:1, b:2', BATCH_MAX_RECORDS: '1000', KAFKA_SSL: 'true', TEMPORAL_ADDRESS: 'temporal:7233' });
    assert.deepEqual(c.kafka.brokers, ['a:1', 'b:2']);
    assert.equal(c.batch.maxRecords, 1000);
    assert.deepEqual(c.kafka.ssl, { caFile: undefined, certFile: undefined, keyFile: undefined, rejectUnauthorized: true });
    assert.equal(c.temporal.uiUrl, 'http://temporal:8233');
  });

  it('rejects settings that only fail together', () => {
    assert.throws(() => loadConfig({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u' }), /KAFKA_SASL_PASSWORD/);
    assert.throws(() => loadConfig({ OUTPUT_TOPIC: 'user-login' }), /three different topics/);
    assert.throws(() => loadConfig({ SUMMARY_WINDOW_SECONDS: '90' }), /multiple of AGGREGATE_BUCKET_SECONDS/);
  });

  it('keeps the breaker off and the rules the contract\'s unless told otherwise', () => {
    const c = loadConfig({});
    assert.equal(c.bridge.breaker, undefined);
    assert.equal(c.rules.appVersionExtraPattern, undefined);
    assert.equal(c.http.bridgeUrl, 'http://127.0.0.1:9464');
    assert.deepEqual(loadConfig({ DLQ_MAX_RATIO: '0.5' }).bridge.breaker, { maxRatio: 0.5, minRecords: 1000 });
    assert.deepEqual(loadConfig({ DLQ_MAX_RATIO: '0.2', DLQ_MIN_RECORDS: '50' }).bridge.breaker, { maxRatio: 0.2, minRecords: 50 });
    assert.throws(() => loadConfig({ DLQ_MIN_RECORDS: '50' }), /DLQ_MIN_RECORDS: has no effect without DLQ_MAX_RATIO/);
    assert.throws(() => loadConfig({ DLQ_MAX_RATIO: '1.5' }), /DLQ_MAX_RATIO/);
    assert.throws(() => loadConfig({ APP_VERSION_EXTRA_PATTERN: 'v(' }), /APP_VERSION_EXTRA_PATTERN: expected a valid regular expression/);
    assert.equal(loadConfig({ APP_VERSION_EXTRA_PATTERN: 'v\\d+' }).rules.appVersionExtraPattern, 'v\\d+');
    assert.equal(loadConfig({ BRIDGE_HTTP_PORT: '0' }).http.bridgeUrl, undefined);
    assert.equal(loadConfig({ DASHBOARD_BRIDGE_URL: 'http://bridge:9464/' }).http.bridgeUrl, 'http://bridge:9464');
  });

  it('never puts a secret into its error message', () => {
    const secret = 'hunter2-very-secret';
    assert.throws(
      () => loadConfig({ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_PASSWORD: secret, REDIS_URL: `ftp://user:${secret}@host` }),
      (err: unknown) => err instanceof ConfigError && !err.message.includes(secret),
    );
  });

  it('uses a Redis Cluster when given its nodes, waiting for a replica there and for none on one Redis', () => {
    const single = loadConfig({});
    assert.equal(single.redis.clusterNodes, undefined);
    assert.equal(single.redis.waitReplicas, 0);
    const cluster = loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-1.redis:7001', REDIS_URL: 'rediss://:pw@ignored:1' });
    assert.deepEqual(cluster.redis.clusterNodes, [
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-1.redis', port: 7001 },
    ]);
    assert.equal(cluster.redis.waitReplicas, 1);
    assert.equal(loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_WAIT_REPLICAS: '0' }).redis.waitReplicas, 0);
    assert.throws(() => loadConfig({ REDIS_CLUSTER_NODES: 'no-port' }), /REDIS_CLUSTER_NODES/);
    assert.throws(() => loadConfig({ REDIS_PREFIX: 'a{b}:' }), /REDIS_PREFIX/);
  });

  it('leaves tracing off unless an OTLP endpoint is given, and reads the standard OTEL_* variables', () => {
    assert.equal(loadConfig({}).tracing, undefined);
    assert.equal(loadConfig({ OTEL_SERVICE_NAME: 'x' }).tracing, undefined);
    const on = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s%3Dcret,x=1', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod' });
    assert.deepEqual(on.tracing, {
      url: 'http://collector:4318/v1/traces',
      headers: { 'api-key': 's=cret', x: '1' },
      serviceName: undefined,
      resourceAttributes: { 'deployment.environment': 'prod' },
    });
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/traces' }).tracing?.url, 'http://c:4318/traces');
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing, undefined);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }).tracing, undefined);
    assert.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /OTEL_EXPORTER_OTLP_PROTOCOL/);
    assert.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' }), /OTEL_EXPORTER_OTLP_HEADERS/);
  });

  it('lists every variable it reads', () => {
    for (const name of ['KAFKA_BROKERS', 'STACK_DIR', 'DASHBOARD_PORT', 'LOG_LEVEL', 'BATCH_MAX_WAIT_MS']) assert.ok(ENVIRONMENT_VARIABLES.includes(name), name);
  });
});
