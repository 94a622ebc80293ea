/**
 * stack:up / stack:down on a stack of this test's own (other ports, its own STACK_DIR): up is
 * idempotent, down leaves no process running, and the next up still has the Temporal runs, the
 * Kafka topics and the Redis data of before. The next up also turns on KAFKA_REQUEST_LOG, which
 * Kafka then follows: a stack's settings are read again at each start.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from '@temporalio/worker';
import { createRedis } from '../../src/clients/redis';
import { connectClient, connectNative } from '../../src/clients/temporal';
import { loadConfig } from '../../src/config';
import { isAlive } from '../../src/stack/proc';
import { stackDown, stackServices, stackUp } from '../../src/stack/stack';
import { greetingWorkflow } from '../fixtures/workflows';
import { createTopics, produce, testKafka, TopicReader } from '../helpers/kafka';
import { quietTemporalRuntime } from '../helpers/runtime';
import { waitFor } from '../helpers/wait';

const ROOT = resolve(__dirname, '..', '..', '..');

describe('stack up and down', function () {
  const dir = join(ROOT, '.data', 'test-stacks', 'restart');
  const config = loadConfig({
    ...process.env,
    STACK_DIR: dir,
    // Ports below the ephemeral range: see test/helpers/dedicated.ts.
    KAFKA_BROKERS: '127.0.0.1:29092',
    TEMPORAL_ADDRESS: '127.0.0.1:27233',
    REDIS_URL: 'redis://127.0.0.1:26379',
    TEMPORAL_TASK_QUEUE: 'restart-test',
  });
  const quiet = () => undefined;

  before(() => {
    quietTemporalRuntime();
    rmSync(dir, { recursive: true, force: true });
  });
  after(() => stackDown(config, quiet));

  it('keeps Temporal runs, Kafka topics and Redis data across a down and an up, and leaves no process behind', async () => {
    const lines: string[] = [];
    const first = await stackUp(config, (l) => lines.push(l));
    assert.deepEqual([...first.values()], ['started', 'started', 'started']);
    assert.equal(lines.length, 4, 'four addresses');
    assert.deepEqual([...(await stackUp(config, quiet)).values()], ['already-ours', 'already-ours', 'already-ours'], 'up is idempotent');

    const kafka = testKafka(config);
    await createTopics(kafka, ['persisted']);
    await produce(kafka, 'persisted', [{ key: 'k', value: 'kept' }]);
    const connection = await connectNative(config.temporal);
    const client = await connectClient(config.temporal);
    const worker = await Worker.create({
      connection,
      taskQueue: 'restart-test',
      workflowsPath: require.resolve('../fixtures/workflows'),
      activities: { greet: async (name: string) => `hello, ${name}` },
    });
    await worker.runUntil(client.workflow.execute(greetingWorkflow, { taskQueue: 'restart-test', workflowId: 'persisted-run', args: ['again'] }));
    await client.connection.close();
    await connection.close();
    const redis = createRedis(config.redis);
    await redis.set('persisted', 'kept');
    redis.disconnect();

    const requestLog = join(dir, 'logs', 'kafka-request.log');
    assert.equal(existsSync(requestLog), false, 'no request log unless KAFKA_REQUEST_LOG asks for one');

    const pids = stackServices(config).map((s) => Number(readFileSync(s.proc.pidFile, 'utf8').split(' ')[0]));
    await stackDown(config, quiet);
    for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} stopped`);

    const second = await stackUp({ ...config, stack: { ...config.stack, kafkaRequestLog: true } }, quiet);
    assert.deepEqual([...second.values()], ['started', 'started', 'started']);
    const clientAgain = await connectClient(config.temporal);
    try {
      const run = await clientAgain.workflow.getHandle('persisted-run').describe();
      assert.equal(run.status.name, 'COMPLETED', 'the earlier Temporal run is still there');
    } finally {
      await clientAgain.connection.close();
    }
    const reader = await new TopicReader(testKafka(config), ['persisted']).start();
    try {
      const [record] = await waitFor(() => (reader.messages.length > 0 ? reader.messages : undefined), { timeoutMs: 30_000, message: 'the earlier record' });
      assert.equal(record!.value?.toString(), 'kept', 'the earlier topic and its record are still there');
    } finally {
      await reader.close();
    }
    await produce(testKafka(config), 'persisted', [{ key: 'k', value: 'timed' }]);
    await waitFor(() => existsSync(requestLog) && /"requestApiKeyName":"PRODUCE".*"localTimeMs"/.test(readFileSync(requestLog, 'utf8')), {
      timeoutMs: 30_000,
      message: 'a produce request, with its times, in the request log KAFKA_REQUEST_LOG turned on',
    });
    const redisAgain = createRedis(config.redis);
    try {
      assert.equal(await redisAgain.get('persisted'), 'kept', 'Redis data survived (append-only file)');
    } finally {
      redisAgain.disconnect();
    }
  });
});
