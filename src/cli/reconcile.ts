/**
 * `npm run reconcile -- --since T --until T [--app-version V] [--json]`
 *
 * Recomputes a window's aggregates from the processed logins on OUTPUT_TOPIC (each `source`
 * once; src/domain/reconcile.ts) and compares them with Redis, version by version and field by
 * field. The window is in event time, resolved to whole buckets as `npm run query` resolves it.
 * Logins may be published up to 24 h before their event time (a valid timestamp may lie 24 h
 * ahead) and any time after it, so the topic is read from 24 h (and a margin for clocks) before
 * the window to its end as it was when the read began.
 *
 * The result is kept in Redis as the last reconcile, which the dashboard shows. Exit status: 0
 * when Redis matches (green), 1 when a value differs (red), 2 when the check could not be made
 * (bad options, Kafka or Redis unreadable). `--json`: one JSON object as the last line.
 */
import { createRedis, describeRedis } from '../clients/redis';
import { rangesFrom, readRanges } from '../clients/topic-range';
import { loadConfig } from '../config';
import { bucketOf } from '../domain/aggregates';
import {
  bucketWindow,
  compareWithRedis,
  CONTRACT_RELATIVE_BOUND,
  ESTIMATE_STANDARD_ERRORS,
  HLL_STANDARD_ERROR,
  ExpectedAggregates,
  MAX_RECORDED_DIFFERENCES,
  parseLogin,
  type Comparison,
  type ReconcileRecord,
} from '../domain/reconcile';
import { MAX_FUTURE_SECONDS } from '../domain/transform';
import type { ProcessedLogin, SummaryBody } from '../domain/types';
import { describeError, PipelineError, UsageError } from '../errors';
import { headerText } from '../domain/dead-letter-report';
import { createInsightsStore } from '../insights/store';
import { runMain } from '../process/main';
import { connectKafkaReader, kafkaFailure } from './kafka-reader';
import { parseOptions, parseTime } from './options';
import { installRequestQueueFix } from '../clients/kafkajs-request-queue';

const EXIT_GREEN = 0;
const EXIT_RED = 1;
const EXIT_CANNOT_CHECK = 2;
/** For the clocks of the producers, the worker and Kafka: reading starts this much earlier still. */
const CLOCK_MARGIN_MS = 600_000;

installRequestQueueFix();
runMain(async () => {
  try {
    return await reconcile();
  } catch (err) {
    process.stderr.write(`${err instanceof PipelineError ? err.message : describeError(err)}\n`);
    return EXIT_CANNOT_CHECK;
  }
});

async function reconcile(): Promise<number> {
  const config = loadConfig();
  const opts = parseOptions(process.argv.slice(2), { since: 'string', until: 'string', 'app-version': 'string', json: 'boolean' });
  if (!opts.since || !opts.until) throw new UsageError('reconcile needs a window: --since T --until T (ISO-8601 or epoch seconds).');
  const sinceMs = parseTime('since', opts.since);
  const untilMs = parseTime('until', opts.until);
  if (sinceMs >= untilMs) throw new UsageError('--since must be before --until.');
  const appVersion = opts['app-version'];
  const { bucketSeconds, retentionSeconds } = config.aggregates;
  const window = bucketWindow(sinceMs, untilMs, bucketSeconds);
  const startedMs = Date.now();
  const oldestKept = bucketOf(Math.floor(startedMs / 1000) - retentionSeconds, bucketSeconds);
  if (window.startS < oldestKept) {
    throw new UsageError(
      `The window starts before ${iso(oldestKept)}, the oldest bucket Redis still keeps (AGGREGATE_RETENTION_SECONDS=${retentionSeconds}): its counts have expired; choose --since at or after it.`,
    );
  }

  // Redis first: when it is down, say so before a long read of the topic.
  const redis = createRedis(config.redis, { fast: true, lazy: true });
  // ioredis rejects a failed connect with "Connection is closed"; its error event says why.
  let connectionError: Error | undefined;
  redis.on('error', (err: Error) => {
    connectionError ??= err;
  });
  const redisFailure = (err: unknown) => {
    if (err instanceof PipelineError) return err;
    const reason = (connectionError ?? (err as Error)).message.replace(/\.$/, '');
    return new PipelineError(`Could not read Redis at ${describeRedis(config.redis)}: ${reason}.`, { cause: err, retriable: true });
  };
  try {
    await redis.connect().catch((err: unknown) => {
      throw redisFailure(err);
    });
    const store = createInsightsStore(redis, config);

    const topic = config.kafka.outputTopic;
    const expected = new ExpectedAggregates(config.aggregates, window, appVersion);
    let recordsRead = 0;
    let unreadable = 0;
    const reader = await connectKafkaReader(config, 'reconcile');
    try {
      const ranges = await rangesFrom(reader.ranges, reader.admin, topic, window.startS * 1000 - MAX_FUTURE_SECONDS * 1000 - CLOCK_MARGIN_MS);
      await readRanges(reader.ranges, topic, ranges, (records) => {
        const logins: ProcessedLogin[] = [];
        for (const record of records) {
          recordsRead++;
          if (headerText(record.headers.type) !== 'login') continue;
          const login = parseLogin(record.value);
          if (login) logins.push(login);
          else unreadable++;
        }
        expected.add(logins);
      });
    } catch (err) {
      throw kafkaFailure(err, config, `read ${topic}`);
    } finally {
      await reader.close();
    }

    let summary: SummaryBody;
    let loginsCounter: number | undefined;
    try {
      summary = await store.readWindow(window.startS * 1000, window.endS * 1000, appVersion);
      loginsCounter = appVersion === undefined ? await store.readTotalsLogins(window.startS * 1000, window.endS * 1000) : undefined;
    } catch (err) {
      throw redisFailure(err);
    }

    const outcome = compareWithRedis(expected, summary, loginsCounter);
    const green = outcome.differences.length === 0;
    const checkedAt = new Date().toISOString();
    const windowJson = { start: iso(window.startS), end: iso(window.endS), seconds: window.endS - window.startS };
    const record: ReconcileRecord = {
      checked_at: checkedAt,
      window: windowJson,
      app_version: appVersion ?? null,
      green,
      compared: outcome.compared.length,
      differences: outcome.differences.length,
      logins: expected.inWindow,
      top_differences: outcome.differences.slice(0, MAX_RECORDED_DIFFERENCES),
    };
    const notes: string[] = [];
    if (window.endS * 1000 > startedMs) notes.push(`The window ends at ${iso(window.endS)}, after the check began: logins still in flight can show as differences; reconcile a window that has closed.`);
    if (unreadable > 0) notes.push(`${unreadable} records with header type=login could not be read as logins; they are not counted.`);
    try {
      await store.recordReconcile(record);
    } catch (err) {
      notes.push(`The result could not be kept in Redis for the dashboard: ${(err as Error).message}.`);
    }
    const result: ReconcileResult = {
      checked_at: checkedAt,
      window: windowJson,
      app_version: record.app_version,
      green,
      compared: record.compared,
      topic: { name: topic, records_read: recordsRead, logins_read: expected.read, logins_in_window: expected.inWindow, duplicates: expected.duplicates, late: expected.late, unreadable },
      redis: { logins: summary.totals.logins },
      differences: outcome.differences,
      estimates: outcome.compared.filter((c) => c.kind === 'estimate'),
      estimates_beyond_contract: outcome.beyondContract,
      notes,
    };
    for (const note of notes) process.stderr.write(`${note}\n`);
    process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : render(result, outcome.compared));
    return green ? EXIT_GREEN : EXIT_RED;
  } finally {
    redis.disconnect();
  }
}

/** What `--json` prints: the record kept for the dashboard, with every difference and estimate, and what was read. */
interface ReconcileResult {
  checked_at: string;
  window: ReconcileRecord['window'];
  app_version: string | null;
  green: boolean;
  /** How many values were compared. */
  compared: number;
  topic: { name: string; records_read: number; logins_read: number; logins_in_window: number; duplicates: number; late: number; unreadable: number };
  redis: { logins: number };
  differences: Comparison[];
  /** Every estimate compared, within its bound or not. */
  estimates: Comparison[];
  /** Estimates within their bound but beyond the contract's 2%. */
  estimates_beyond_contract: Comparison[];
  notes: string[];
}

function render(result: ReconcileResult, compared: Comparison[]): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const lines = [
    `Reconcile of ${result.window.start} to ${result.window.end} (${result.window.seconds} s, event time), ${result.app_version ? `app version ${result.app_version}` : 'all app versions'}`,
    `${result.topic.name}: ${n(result.topic.logins_in_window)} distinct logins in the window, from ${n(result.topic.records_read)} records read ` +
      `(${n(result.topic.duplicates)} repeated by source and dropped, ${n(result.topic.late)} late and not aggregated); Redis: ${n(result.redis.logins)} logins.`,
    `Compared ${n(result.compared)} values: ${result.green ? 'GREEN, Redis matches the topic.' : `RED, ${result.differences.length} difference${result.differences.length === 1 ? '' : 's'}.`}`,
  ];
  if (!result.green) {
    const header = ['app version', 'field', 'topic', 'redis', 'difference', 'check'];
    const rows = result.differences.map((d) => [
      d.app_version ?? '(all)',
      d.field,
      n(d.topic),
      n(d.redis),
      `${d.difference > 0 ? '+' : ''}${n(d.difference)}`,
      d.kind === 'exact' ? 'exact' : `estimate, allowed ±${n(d.bound)}`,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const format = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
    lines.push('', format(header.map((h) => h.toUpperCase())), ...rows.map(format));
  }
  const estimates = compared.filter((c) => c.kind === 'estimate' && c.topic > 0);
  if (estimates.length > 0) {
    const worst = Math.max(...estimates.map((c) => Math.abs(c.difference) / c.topic));
    const allowed = (HLL_STANDARD_ERROR * ESTIMATE_STANDARD_ERRORS * 100).toFixed(2);
    lines.push('', `Unique users and devices are HyperLogLog estimates: a difference when more than ${ESTIMATE_STANDARD_ERRORS} standard errors (${allowed}%) off; the furthest was ${(worst * 100).toFixed(2)}% off.`);
  }
  if (result.estimates_beyond_contract.length > 0) {
    lines.push(
      `${result.estimates_beyond_contract.length} within that but beyond the contract's ${CONTRACT_RELATIVE_BOUND * 100}% (by chance about 1 estimate in 75): ` +
        result.estimates_beyond_contract.map((c) => `${c.app_version ?? '(all)'} ${c.field} ${n(c.redis)} for ${n(c.topic)}`).join(', ') + '.',
    );
  }
  return `${lines.join('\n')}\n`;
}

function iso(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}
