/**
 * Secure connections on the local stack: a broker of this test's own with a SASL_SSL listener
 * (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 over TLS) and a Redis with a password over TLS; the whole
 * pipeline runs through them, and no secret ever appears in a log line or an error message.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createKafka } from '../../src/clients/kafka';
import { createRedis } from '../../src/clients/redis';
import { loadConfig, type SaslMechanism } from '../../src/config';
import { withDeadline } from '../../src/process/wait';
import { createGenerator } from '../../src/generator/records';
import { formatAccounting } from '../helpers/accounting';
import { makeCertificates } from '../helpers/certs';
import { DedicatedService } from '../helpers/dedicated';
import { PipelineHarness } from '../helpers/pipeline';
import { ChildService } from '../helpers/processes';

const exec = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..', '..');
const SASL_PASSWORD = `kafka-${randomBytes(8).toString('hex')}`;
const REDIS_PASSWORD = `redis-${randomBytes(8).toString('hex')}`;
const API_KEY = `apikey-${randomBytes(8).toString('hex')}`;
const SECRETS = [SASL_PASSWORD, REDIS_PASSWORD, API_KEY];

describe('secure connections', function () {
  const certs = makeCertificates(join(ROOT, '.data', 'test-stacks', 'certs'));
  const kafka = new DedicatedService('kafka', 'secure-kafka', 24092, {
    kafkaSecure: { port: 24094, keystorePem: certs.keystorePem, users: [{ name: 'alice', password: SASL_PASSWORD }] },
  });
  const redis = new DedicatedService('redis', 'secure-redis', 24379, {
    redisTls: { certFile: certs.certFile, keyFile: certs.keyFile, caFile: certs.caFile },
    redisPassword: REDIS_PASSWORD,
  });
  const secureEnv = (mechanism: SaslMechanism, password = SASL_PASSWORD) => ({
    KAFKA_BROKERS: '127.0.0.1:24094',
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: 'alice',
    KAFKA_SASL_PASSWORD: password,
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: certs.caFile,
    REDIS_URL: redis.config.redis.url,
    REDIS_TLS_CA_FILE: certs.caFile,
  });

  before(async () => {
    // SCRAM users are created when the storage is formatted: a fresh broker each run.
    kafka.wipe();
    await Promise.all([kafka.start(), redis.start()]);
  });
  after(() => Promise.all([kafka.stop(), redis.stop()]));

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    it(`talks to Kafka with SASL ${mechanism.toUpperCase()} over TLS`, async () => {
      const config = loadConfig({ ...process.env, ...secureEnv(mechanism) });
      const admin = createKafka(config.kafka).admin();
      await admin.connect();
      try {
        const cluster = await admin.describeCluster();
        assert.equal(cluster.brokers[0]?.port, 24094);
      } finally {
        await admin.disconnect();
      }
    });
  }

  it('refuses a wrong password with one sentence that does not contain it', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    const bridge = new ChildService('bridge', { ...secureEnv('scram-sha-512', wrong), LOG_FORMAT: 'json', BRIDGE_HTTP_PORT: '0' }, `secure-wrong-${randomBytes(3).toString('hex')}`);
    await bridge.start().catch(() => undefined);
    const code = await withDeadline(bridge.waitForExit(), 60_000, 'The bridge given a wrong password exiting').finally(() => bridge.stop('SIGKILL'));
    assert.notEqual(code, 0);
    const log = bridge.logText();
    assert.match(log, /SASL|authentication/i);
    assert.ok(!log.includes(wrong), 'the wrong password is not in the output');
    assert.ok(!log.includes(SASL_PASSWORD));
  });

  it('runs the pipeline through SASL_SSL Kafka and a password-protected TLS Redis, and logs no secret', async () => {
    const harness = new PipelineHarness('secure', { ...secureEnv('scram-sha-512'), LOG_LEVEL: 'debug' });
    try {
      await harness.setup();
      await harness.startAll();
      const next = createGenerator({ invalidRatio: 0.05 });
      await harness.produce(Array.from({ length: 300 }, () => next()));
      const accounting = await harness.waitForAllAccounted();
      assert.deepEqual(accounting.lost, [], formatAccounting(accounting));
      await harness.waitForRedisExact(30_000, ' over TLS');
      const redisClient = createRedis(harness.config.redis);
      try {
        assert.equal(await redisClient.ping(), 'PONG');
      } finally {
        redisClient.disconnect();
      }
      // The query CLI against the protected Redis, and a failing one: neither prints the password.
      const { stdout } = await exec(process.execPath, ['lib/src/cli/query.js', '--json'], { cwd: ROOT, env: { ...process.env, ...harness.t.env } });
      assert.match(stdout, /"totals"/);
      const failed = await exec(process.execPath, ['lib/src/cli/query.js'], {
        cwd: ROOT,
        env: { ...process.env, ...harness.t.env, REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:1` },
      }).catch((err: { stdout: string; stderr: string }) => err);
      assert.ok('stderr' in failed && failed.stderr.length > 0);
      for (const output of [harness.worker.logText(), harness.bridge.logText(), stdout, failed.stderr]) {
        for (const secret of SECRETS) assert.ok(!output.includes(secret), `a secret leaked:\n${output.slice(output.indexOf(secret) - 200, output.indexOf(secret) + 50)}`);
      }
    } finally {
      await harness.close();
    }
  });

  it('keeps an API key and passwords out of a configuration error', async () => {
    const result = await exec(process.execPath, ['lib/src/worker/main.js'], {
      cwd: ROOT,
      env: { ...process.env, TEMPORAL_API_KEY: API_KEY, KAFKA_SASL_PASSWORD: SASL_PASSWORD, KAFKA_SASL_MECHANISM: 'kerberos', BATCH_MAX_RECORDS: 'lots' },
    }).catch((err: { code: number; stdout: string; stderr: string }) => err);
    assert.ok('code' in result && result.code === 1);
    assert.match(result.stderr, /KAFKA_SASL_MECHANISM/);
    assert.match(result.stderr, /BATCH_MAX_RECORDS/);
    assert.equal(result.stderr.trim().split('\n').length, 1, 'one message');
    for (const secret of SECRETS) assert.ok(!result.stderr.includes(secret) && !result.stdout.includes(secret));
  });
});
