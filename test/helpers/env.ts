/** Per-test isolation: fresh topics, consumer group, task queue, Redis prefix and insights workflow id. */
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config, type Environment } from '../../src/config';

export interface TestEnv {
  id: string;
  env: Environment;
  config: Config;
}

export function testEnv(name: string, overrides: Environment = {}): TestEnv {
  const id = `t-${name}-${randomBytes(3).toString('hex')}`;
  const env: Environment = {
    INPUT_TOPIC: `${id}-in`,
    OUTPUT_TOPIC: `${id}-out`,
    DLQ_TOPIC: `${id}-dlq`,
    KAFKA_GROUP_ID: `${id}-group`,
    TEMPORAL_TASK_QUEUE: `${id}-tq`,
    INSIGHTS_WORKFLOW_ID: `${id}-insights`,
    REDIS_PREFIX: `${id}:`,
    BRIDGE_HTTP_PORT: '0',
    WORKER_HTTP_PORT: '0',
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    ...overrides,
  };
  return { id, env, config: loadConfig({ ...process.env, ...env }) };
}
