/**
 * A service of the local stack started only for one test, on its own port and state folder, so
 * that the test may kill it without disturbing the shared stack.
 *
 * Fixed ports stay below 32768, out of Linux's ephemeral range (32768-60999): a port there may be
 * taken at any moment by the local end of some outgoing connection, and a restarted broker then
 * fails to bind. Kafka also takes the port after its own, for its controller.
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig, type Config, type Environment } from '../../src/config';
import { kafkaService, type SecureListener } from '../../src/stack/kafka';
import { stackLayout } from '../../src/stack/layout';
import { becomesTrue } from '../../src/process/wait';
import { runningPid, signalGroup, stopGracefully } from '../../src/stack/proc';
import { redisService, type RedisTls } from '../../src/stack/redis';
import type { Service } from '../../src/stack/service';
import { prepareServices } from '../../src/stack/stack';
import { temporalService } from '../../src/stack/temporal';

const ROOT = resolve(__dirname, '..', '..', '..');

export class DedicatedService {
  readonly config: Config;
  readonly service: Service;

  constructor(
    readonly kind: 'kafka' | 'redis' | 'temporal',
    readonly name: string,
    port: number,
    extras: { kafkaSecure?: SecureListener; redisTls?: RedisTls & { caFile: string }; redisPassword?: string } = {},
  ) {
    const env: Environment = {
      ...process.env,
      STACK_DIR: join(ROOT, '.data', 'test-stacks', name),
      KAFKA_BROKERS: kind === 'kafka' ? `127.0.0.1:${port}` : process.env.KAFKA_BROKERS,
      REDIS_URL:
        kind === 'redis'
          ? `${extras.redisTls ? 'rediss' : 'redis'}://${extras.redisPassword ? `:${encodeURIComponent(extras.redisPassword)}@` : ''}127.0.0.1:${port}`
          : process.env.REDIS_URL,
      REDIS_TLS_CA_FILE: kind === 'redis' ? extras.redisTls?.caFile : process.env.REDIS_TLS_CA_FILE,
      TEMPORAL_ADDRESS: kind === 'temporal' ? `127.0.0.1:${port}` : process.env.TEMPORAL_ADDRESS,
    };
    this.config = loadConfig(env);
    const layout = stackLayout(this.config);
    this.service =
      kind === 'kafka'
        ? kafkaService(this.config, layout, extras.kafkaSecure)
        : kind === 'redis'
          ? redisService(this.config, layout, extras.redisTls)
          : temporalService(this.config, layout);
  }

  /** The variables that point a pipeline at this service. */
  get env(): Environment {
    if (this.kind === 'kafka') return { KAFKA_BROKERS: this.config.kafka.brokers.join(',') };
    if (this.kind === 'redis') return { REDIS_URL: this.config.redis.url };
    return { TEMPORAL_ADDRESS: this.config.temporal.address };
  }

  /** Forgets all state (for a service whose configuration is made at format time). */
  wipe(): void {
    rmSync(this.config.stack.dir, { recursive: true, force: true });
  }

  async start(): Promise<void> {
    if (await this.service.isHealthy()) return;
    if (runningPid(this.service.proc) === undefined) {
      await prepareServices(this.config, [this.service]);
      await this.service.start();
    }
    const ok = await becomesTrue(() => this.service.isHealthy(), this.service.startTimeoutMs, 200);
    if (!ok) throw new Error(`dedicated ${this.name} did not become healthy; see ${this.service.proc.logFile}`);
  }

  async kill(): Promise<void> {
    const pid = runningPid(this.service.proc);
    if (pid === undefined) return;
    signalGroup(pid, 'SIGKILL');
    await becomesTrue(async () => runningPid(this.service.proc) === undefined, 10_000, 50);
  }

  /** Freezes the process (SIGSTOP): its connections stay open and nothing answers, as a hung server's. */
  freeze(): void {
    const pid = runningPid(this.service.proc);
    if (pid !== undefined) signalGroup(pid, 'SIGSTOP');
  }

  thaw(): void {
    const pid = runningPid(this.service.proc);
    if (pid !== undefined) signalGroup(pid, 'SIGCONT');
  }

  async stop(): Promise<void> {
    await stopGracefully(this.service.proc, 30_000);
  }

  isHealthy(): Promise<boolean> {
    return this.service.isHealthy();
  }
}
