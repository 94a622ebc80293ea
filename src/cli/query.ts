/**
 * `npm run query -- [--since T] [--until T] [--app-version V] [--json]`: the rolling aggregates
 * straight from Redis. T is ISO-8601 or epoch seconds; the default window is the last
 * SUMMARY_WINDOW_SECONDS. The window is resolved to whole buckets.
 */
import { createRedis, describeRedis } from '../clients/redis';
import { loadConfig } from '../config';
import type { SummaryBody } from '../domain/types';
import { createInsightsStore } from '../insights/store';
import { UsageError } from '../errors';
import { runMain } from '../process/main';
import { parseOptions, parseTime } from './options';
import { installRequestQueueFix } from '../clients/kafkajs-request-queue';

installRequestQueueFix();
runMain(async () => {
  const config = loadConfig();
  const opts = parseOptions(process.argv.slice(2), { since: 'string', until: 'string', 'app-version': 'string', json: 'boolean' });
  const untilMs = opts.until ? parseTime('until', opts.until) : Date.now();
  const sinceMs = opts.since ? parseTime('since', opts.since) : undefined;
  if (sinceMs !== undefined && sinceMs >= untilMs) throw new UsageError('--since must be before --until.');
  const redis = createRedis(config.redis, { fast: true, lazy: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const store = createInsightsStore(redis, config);
    // Without --since, the same window as the summaries: SUMMARY_WINDOW_SECONDS ending with the bucket of --until.
    const summary =
      sinceMs === undefined
        ? await store.readWindowEndingAt(untilMs, config.summary.windowSeconds, opts['app-version'])
        : await store.readWindow(sinceMs, untilMs, opts['app-version']);
    process.stdout.write(opts.json ? `${JSON.stringify(summary)}\n` : renderTable(summary));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`Could not read the aggregates from Redis at ${describeRedis(config.redis)}: ${(err as Error).message.replace(/\.$/, '')}.`);
  } finally {
    redis.disconnect();
  }
});

export function renderTable(summary: SummaryBody): string {
  const lines: string[] = [];
  lines.push(`Window ${summary.window.start} → ${summary.window.end} (${summary.window.seconds} s, event time)`);
  lines.push(`Total: ${summary.totals.logins} logins, ~${summary.totals.unique_users} unique users`);
  lines.push('');
  const versions = Object.entries(summary.app_versions);
  if (versions.length === 0) {
    lines.push('No logins in this window.');
    return `${lines.join('\n')}\n`;
  }
  const header = ['app_version', 'logins', 'unique users', 'unique devices', 'device types', 'top locales'];
  const rows = versions.map(([version, s]) => [
    version,
    String(s.logins),
    `~${s.unique_users}`,
    `~${s.unique_devices}`,
    Object.entries(s.device_types).map(([k, v]) => `${k} ${v}`).join(', '),
    Object.entries(s.locales)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => (i >= 1 && i <= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  lines.push(format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(format));
  lines.push('', 'unique_* are HyperLogLog estimates (within 2%); the other counts are exact.');
  return `${lines.join('\n')}\n`;
}
