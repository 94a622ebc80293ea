/** A whole pipeline for one test: fresh topics, worker and bridge processes, a reader of the outputs. */
import type { Kafka, Message } from 'kafkajs';
import { createRedis, type RedisClient } from '../../src/clients/redis';
import { DEAD_LETTER_HEADROOM_BYTES, KAFKA_DEFAULT_MAX_MESSAGE_BYTES } from '../../src/clients/topics';
import type { Environment } from '../../src/config';
import { createInsightsStore, type InsightsStore } from '../../src/insights/store';
import { account, formatAccounting, type Accounting } from './accounting';
import { testEnv, type TestEnv } from './env';
import { createTopics, produce, testKafka, TopicReader } from './kafka';
import { ChildService, stopAll } from './processes';
import { waitFor } from './wait';
import { connectClient } from '../../src/clients/temporal';
import type { Config } from '../../src/config';

export class PipelineHarness {
  readonly t: TestEnv;
  readonly kafka: Kafka;
  readonly worker: ChildService;
  readonly bridge: ChildService;
  readonly extra: ChildService[] = [];
  reader!: TopicReader;
  private redisClient: RedisClient | undefined;

  constructor(
    name: string,
    overrides: Environment = {},
    private readonly partitions = 1,
  ) {
    this.t = testEnv(name, overrides);
    this.kafka = testKafka(this.t.config);
    this.worker = new ChildService('worker', this.t.env, `${this.t.id}-worker`);
    this.bridge = new ChildService('bridge', this.t.env, `${this.t.id}-bridge`);
  }

  get config() {
    return this.t.config;
  }

  /**
   * Creates the test's topics; `maxMessageBytes` lets the input take records over the broker's
   * 1 MB default. The DLQ gets room for the input's largest record and headers, as the worker
   * would create it, unless `dlqMaxMessageBytes` gives it a limit of its own.
   */
  async setup(options: { maxMessageBytes?: number; dlqMaxMessageBytes?: number } = {}): Promise<this> {
    const { inputTopic, outputTopic, dlqTopic } = this.config.kafka;
    const sizeLimit = (bytes: number) => [{ name: 'max.message.bytes', value: String(bytes) }];
    const inputLimit = options.maxMessageBytes ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
    await createTopics(this.kafka, [inputTopic], this.partitions, options.maxMessageBytes ? sizeLimit(inputLimit) : []);
    await createTopics(this.kafka, [outputTopic]);
    await createTopics(this.kafka, [dlqTopic], 1, sizeLimit(options.dlqMaxMessageBytes ?? inputLimit + DEAD_LETTER_HEADROOM_BYTES));
    this.reader = await new TopicReader(this.kafka, [outputTopic, dlqTopic]).start();
    return this;
  }

  async startAll(): Promise<void> {
    await Promise.all([this.worker.start(), this.bridge.start()]);
  }

  /** Another worker, bridge or dashboard process on the same topics, group and task queue. */
  spawn(kind: 'worker' | 'bridge' | 'dashboard', name: string): ChildService {
    const service = new ChildService(kind, this.t.env, `${this.t.id}-${name}`);
    this.extra.push(service);
    return service;
  }

  async produce(messages: Message[]): Promise<void> {
    await produce(this.kafka, this.config.kafka.inputTopic, messages);
  }

  async inputPartitionSizes(): Promise<number[]> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(this.config.kafka.inputTopic);
      return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
    } finally {
      await admin.disconnect();
    }
  }

  logins() {
    return this.reader.of(this.config.kafka.outputTopic).filter((m) => m.headers.type === 'login');
  }

  deadLetters() {
    return this.reader.of(this.config.kafka.dlqTopic);
  }

  async accounting(): Promise<Accounting> {
    return account(this.config.kafka.inputTopic, await this.inputPartitionSizes(), [...this.logins(), ...this.deadLetters()]);
  }

  /** Waits until every input offset is in the outputs; returns the final accounting. */
  async waitForAllAccounted(timeoutMs = 120_000): Promise<Accounting> {
    let last: Accounting | undefined;
    await waitFor(
      async () => {
        last = await this.accounting();
        return last.lost.length === 0;
      },
      { timeoutMs, intervalMs: 500, message: () => `every input accounted for: ${last ? formatAccounting(last) : 'nothing yet'}\nworker: ${this.worker.tail(5)}\nbridge: ${this.bridge.tail(5)}` },
    );
    return last!;
  }

  redis(): RedisClient {
    if (!this.redisClient || this.redisClient.status === 'end') this.redisClient = createRedis(this.config.redis);
    return this.redisClient;
  }

  store(): InsightsStore {
    return createInsightsStore(this.redis(), this.config);
  }

  /** Logins counted in Redis for event times within the last `seconds` (and 1 h ahead). */
  async redisLogins(seconds = 3600): Promise<number> {
    const now = Date.now();
    const summary = await this.store().readWindow(now - seconds * 1000, now + 3_600_000);
    return summary.totals.logins;
  }

  /** Waits until Redis counts exactly the distinct logins on OUTPUT_TOPIC (every valid login once). */
  async waitForRedisExact(timeoutMs = 30_000, what = ''): Promise<void> {
    const { distinctLogins } = await this.accounting();
    let counted = -1;
    await waitFor(async () => (counted = await this.redisLogins()) === distinctLogins, {
      timeoutMs,
      message: () => `Redis to count exactly ${distinctLogins} logins${what} (counts ${counted})`,
    });
  }

  async close(): Promise<void> {
    await stopAll([this.worker, this.bridge, ...this.extra]);
    await terminateInsights(this.config);
    await this.reader?.close().catch(() => undefined);
    this.redisClient?.disconnect();
  }
}

/** A test's insights workflow would otherwise tick on the shared server forever. */
export async function terminateInsights(config: Config): Promise<void> {
  const client = await connectClient(config.temporal, { connectTimeoutMs: 3_000 }).catch(() => undefined);
  if (!client) return;
  try {
    await client.workflow.getHandle(config.temporal.insightsWorkflowId).terminate('test finished');
  } catch {
    // Never started, already ended, or the server is gone: nothing to do.
  } finally {
    await client.connection.close();
  }
}
