/**
 * `npm run generate -- [--rate N] [--count N] [--invalid-ratio R] [--topic T] [--app-versions a,b]`:
 * login records like the original generator's, at N records/s (0 = as fast as possible).
 */
import { FastJavaCompatiblePartitioner } from '../clients/partitioner';
import { createKafka } from '../clients/kafka';
import { byPartition, fetchPartitions, settleEach } from '../clients/partitioned-send';
import { ensureTopics } from '../clients/topics';
import { isInteractive, loadConfig } from '../config';
import { createGenerator } from '../generator/records';
import { createLogger, type Logger } from '../log';
import { retry } from '../process/retry';
import { onShutdownSignals } from '../process/signals';
import { sleep } from '../process/wait';
import { UsageError } from '../errors';
import { runMain } from '../process/main';
import { parseOptions } from './options';
import { ProgressBar } from './progress';
import { installRequestQueueFix } from '../clients/kafkajs-request-queue';

installRequestQueueFix();
runMain(async () => {
  const config = loadConfig();
  const logger = createLogger('generator', config);
  const opts = parseOptions(process.argv.slice(2), {
    rate: 'string',
    count: 'string',
    'invalid-ratio': 'string',
    topic: 'string',
    'app-versions': 'string',
    'missing-device-type-ratio': 'string',
  });
  const rate = numberOption('rate', opts.rate ?? '2', 0);
  const count = opts.count === undefined ? Infinity : numberOption('count', opts.count, 1);
  const invalidRatio = numberOption('invalid-ratio', opts['invalid-ratio'] ?? '0', 0, 1);
  const missingDeviceTypeRatio = numberOption('missing-device-type-ratio', opts['missing-device-type-ratio'] ?? '0.05', 0, 1);
  const topic = opts.topic ?? config.kafka.inputTopic;
  const appVersions = (opts['app-versions'] ?? '2.3.0').split(',').map((v) => v.trim()).filter(Boolean);
  const next = createGenerator({ appVersions, invalidRatio, missingDeviceTypeRatio });

  const kafka = createKafka(config.kafka, { logger });
  await ensureTopics(kafka, [topic]);
  const partitions = await fetchPartitions(kafka, topic);
  // One send per partition (src/clients/partitioned-send.ts: kafkajs's retry of a send across
  // brokers can drop a partition's records and still resolve), idempotent so that a send retried
  // after a failure the broker had in fact taken is not written twice.
  const producer = kafka.producer({
    createPartitioner: FastJavaCompatiblePartitioner,
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 5 },
  });
  await producer.connect();
  let stopped = false;
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));
  // A signal ends the loop after the send under way; what was sent is acknowledged.
  onShutdownSignals(logger, async () => {
    stopped = true;
    await done;
  });
  const progress = Number.isFinite(count) && isInteractive() ? new ProgressBar(count) : undefined;
  const started = Date.now();
  let sent = 0;
  // As fast as possible: batches of 1000 with a few requests in flight; at a rate: one record per tick.
  const chunk = rate === 0 ? 1000 : Math.max(1, Math.ceil(rate / 20));
  while (!stopped && sent < count) {
    const n = Math.min(chunk, count - sent);
    const records = Array.from({ length: n }, () => {
      const { key, value } = next();
      return { topic, message: { key, value } };
    });
    // Each partition's records until acknowledged; a partition that failed is sent again alone.
    let unacknowledged = 0;
    await settleEach(await byPartition(records, async () => partitions), async ({ items }) => {
      const acknowledged = await sendUntilAcknowledged(() => producer.send({ topic, messages: items.map((i) => i.message), acks: -1 }), () => stopped, logger);
      if (acknowledged) sent += items.length;
      else unacknowledged += items.length;
    });
    if (unacknowledged > 0) break;
    progress?.update(sent);
    if (rate > 0) {
      const due = started + (sent / rate) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
    }
  }
  progress?.done();
  const seconds = (Date.now() - started) / 1000;
  logger.info({ topic, sent, seconds: Number(seconds.toFixed(2)), recordsPerSecond: Math.round(sent / seconds) }, 'Generator finished');
  await producer.disconnect();
  finished();
});

/**
 * Sends, retrying through a broker outage rather than dying: the same records again, so that a
 * count is a count. Returns false when stopped before an acknowledgement.
 */
async function sendUntilAcknowledged(send: () => Promise<unknown>, stopped: () => boolean, logger: Logger): Promise<boolean> {
  try {
    await retry(send, {
      initialMs: 500,
      maxMs: 5_000,
      retriable: () => !stopped(),
      onRetry: (err, _attempt, retryInMs) => logger.warn({ err, retryInMs }, 'Kafka did not take the records; retrying'),
    });
    return true;
  } catch (err) {
    if (stopped()) return false;
    throw err;
  }
}

function numberOption(name: string, text: string, min: number, max = Infinity): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min}${max < Infinity ? ` to ${max}` : ''}; got "${text}".`);
  return n;
}
