/** Per-test isolation: fresh topics, consumer group, task queue, Redis prefix and insights workflow id. */
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config, type Environment } from '../../src/config';
import { isolatedEnvironment } from '../../src/process/environment';

export interface TestEnv {
  id: string;
  env: Environment;
  config: Config;
}

export function testEnv(name: string, overrides: Environment = {}): TestEnv {
  const id = `t-${name}-${randomBytes(3).toString('hex')}`;
  const env: Environment = {
    ...isolatedEnvironment(id),
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    ...overrides,
  };
  return { id, env, config: loadConfig({ ...process.env, ...env }) };
}
