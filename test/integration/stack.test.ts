/** The local stack answers: Kafka round trip, a workflow with an activity on Temporal, Redis read/write. */
import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { connectClient, connectNative } from '../../src/clients/temporal';
import { createRedis } from '../../src/clients/redis';
import { stackStatus } from '../../src/stack/stack';
import { greetingWorkflow } from '../fixtures/workflows';
import { testEnv } from '../helpers/env';
import { createTopics, produce, testKafka, TopicReader } from '../helpers/kafka';
import { quietTemporalRuntime } from '../helpers/runtime';
import { join } from 'node:path';
import { launchChromium } from '../helpers/browser';
import { LOG_DIR } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

/** The Web UI, in headless Chromium, lists the namespace's workflows (the one just run among them). */
async function uiListsWorkflow(uiUrl: string, namespace: string, workflowId: string): Promise<void> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${uiUrl}/namespaces/${namespace}/workflows?query=${encodeURIComponent(`WorkflowId="${workflowId}"`)}`);
    await waitFor(async () => (await page.content()).includes(workflowId), {
      timeoutMs: 60_000,
      intervalMs: 500,
      message: `the Web UI to list ${workflowId}`,
    });
    await page.goto(`${uiUrl}/namespaces/${namespace}/workflows`);
    await waitFor(async () => /Workflow ID/.test(await page.content()), { timeoutMs: 30_000, message: 'the workflow list' });
    await page.screenshot({ path: join(LOG_DIR, 'temporal-ui.png') });
  } finally {
    await browser.close();
  }
}

describe('local stack', () => {
  before(quietTemporalRuntime);
  const { id, config } = testEnv('stack');

  it('reports every service up', async () => {
    const lines: string[] = [];
    assert.equal(await stackStatus(config, (l) => lines.push(l)), true, lines.join('\n'));
    assert.equal(lines.length, 4);
    for (const line of lines) assert.match(line, / up/);
  });

  it('carries a record through Kafka with kafkajs', async () => {
    const kafka = testKafka(config);
    const topic = `${id}-roundtrip`;
    await createTopics(kafka, [topic]);
    const reader = await new TopicReader(kafka, [topic]).start();
    try {
      await produce(kafka, topic, [{ key: 'k1', value: 'hello', headers: { h: 'v' } }]);
      const [message] = await waitFor(
        () => {
          const read = reader.of(topic);
          return read.length > 0 ? read : undefined;
        },
        { timeoutMs: 20_000, message: 'the record' },
      );
      assert.equal(message!.key?.toString(), 'k1');
      assert.equal(message!.value?.toString(), 'hello');
      assert.equal(message!.headers.h, 'v');
    } finally {
      await reader.close();
    }
  });

  it('runs a workflow with an activity to completion on the Temporal server', async () => {
    const connection = await connectNative(config.temporal);
    const worker = await Worker.create({
      connection,
      taskQueue: config.temporal.taskQueue,
      workflowsPath: require.resolve('../fixtures/workflows'),
      activities: { greet: async (name: string) => `hello, ${name}` },
    });
    const client = await connectClient(config.temporal);
    try {
      const result = await worker.runUntil(
        client.workflow.execute(greetingWorkflow, { taskQueue: config.temporal.taskQueue, workflowId: `${id}-greeting`, args: ['stack'] }),
      );
      assert.equal(result, 'hello, stack');
      const described = await client.workflow.getHandle(`${id}-greeting`).describe();
      assert.equal(described.status.name, 'COMPLETED');
      await uiListsWorkflow(config.temporal.uiUrl, config.temporal.namespace, `${id}-greeting`);
    } finally {
      await client.connection.close();
      await connection.close();
    }
  });

  it('writes and reads a value in Redis', async () => {
    const redis = createRedis(config.redis);
    try {
      await redis.set(`${config.redis.prefix}probe`, 'value', 'EX', 60);
      assert.equal(await redis.get(`${config.redis.prefix}probe`), 'value');
      assert.equal(await redis.config('GET', 'appendonly').then((r) => (r as string[])[1]), 'yes', 'Redis runs with append-only persistence');
    } finally {
      redis.disconnect();
    }
  });
});
