/** `npm run tail -- [--topic T] [--from-beginning]`: pretty-prints a topic, headers included. */
import { createKafka } from '../clients/kafka';
import type { RangeRecord } from '../clients/range-reader';
import { TopicFollower } from '../clients/topic-follower';
import { isInteractive, loadConfig } from '../config';
import { createLogger } from '../log';
import { onShutdownSignals } from '../process/signals';
import { runMain } from '../process/main';
import { parseOptions } from './options';
import { installRequestQueueFix } from '../clients/kafkajs-request-queue';

installRequestQueueFix();
runMain(async () => {
  const config = loadConfig();
  const opts = parseOptions(process.argv.slice(2), { topic: 'string', 'from-beginning': 'boolean', json: 'boolean' });
  const topic = opts.topic ?? config.kafka.outputTopic;
  const logger = createLogger('tail', { log: { ...config.log, level: 'warn' } });
  const kafka = createKafka(config.kafka, { logger });
  const color = isInteractive();
  const dim = (s: string) => (color ? `\x1b[2m${s}\x1b[0m` : s);
  const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s);
  // By exact offsets, with no consumer group (tailing never moves the pipeline's offsets), and as
  // a read_committed reader: records of aborted attempts never show.
  const follower = new TopicFollower(kafka, [topic], (_topic, records) => records.forEach(print), {
    fromBeginning: opts['from-beginning'] ?? false,
    intervalMs: 250,
    onError: (err) => logger.warn({ err }, 'Reading the topic failed; retrying'),
  });
  onShutdownSignals(logger, () => follower.stop());
  await follower.start();
  process.stderr.write(`Tailing ${topic}${opts['from-beginning'] ? ' from the beginning' : ''}; Ctrl-C to stop.\n`);
  // Until a signal stops the follower (and the process).
  await new Promise<void>(() => undefined);

  function print(message: RangeRecord): void {
    const { partition } = message;
    const headers = Object.entries(message.headers ?? {}).map(([k, v]) => `${k}=${v?.toString() ?? ''}`);
    const value = message.value === null ? null : message.value.toString('utf8');
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ partition, offset: message.offset, key: message.key?.toString() ?? null, headers: Object.fromEntries(headers.map((h) => h.split(/=(.*)/s).slice(0, 2))), value })}\n`);
      return;
    }
    process.stdout.write(
      `${bold(`${topic}[${partition}]@${message.offset}`)} ${dim(new Date(Number(message.timestamp)).toISOString())} key=${message.key?.toString() ?? 'null'}\n` +
        (headers.length ? `  ${dim(headers.join('  '))}\n` : '') +
        `  ${prettyValue(value)}\n`,
    );
  }
});

function prettyValue(value: string | null): string {
  if (value === null) return 'null';
  try {
    return JSON.stringify(JSON.parse(value), null, 2).replace(/\n/g, '\n  ');
  } catch {
    return JSON.stringify(value.length > 2000 ? `${value.slice(0, 2000)}…` : value);
  }
}
