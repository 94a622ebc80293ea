/**
 * `npm run dlq -- [list] [--since T] [--until T] [--reason R] [--field F] [--json]`
 * `npm run dlq -- show <partition>:<offset> [--json]`
 * `npm run dlq -- replay [--reason R] [--field F] [--since T] [--until T] [--dry-run] [--json]`
 *
 * Read-only inspection of DLQ_TOPIC. `list` groups the dead letters that failed in
 * [--since, --until) by reason, field and error sentence, with counts, first and last seen and
 * the newest one as a sample. The window is on `dlq.failed_at` (processing time), or on the
 * Kafka timestamp for a dead letter without a readable `dlq.failed_at`; by default the last 24 h.
 * T is ISO-8601 or epoch seconds. `show` prints one dead letter: its headers, and its key and
 * value as text when printable UTF-8, else as hex. `replay` starts (or follows) a replay
 * workflow (src/workflows/replay.ts) that runs the selected dead letters through today's rules,
 * draws its progress on a terminal and prints what it did by reason; without --since and
 * --until it takes the whole topic. `--json`: one JSON object as the last line.
 */
import { loadConfig, type Config } from '../config';
import {
  DeadLetterGroups,
  describeDeadLetter,
  hexDump,
  matchesFilter,
  viewBytes,
  type BytesView,
  type DeadLetterFilter,
  type DeadLetterGroup,
  type RawRecord,
} from '../domain/dead-letter-report';
import { WorkflowFailedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import { connectClient } from '../clients/temporal';
import { isInteractive } from '../config';
import {
  describeSelection,
  REPLAY_PROGRESS_QUERY,
  REPLAY_WORKFLOW_TYPE,
  replayWorkflowId,
  type ReplayInput,
  type ReplayProgress,
  type ReplayResult,
  type ReplaySelection,
} from '../domain/replay';
import { BATCH_GROUP, BATCH_TOPIC } from '../domain/search-attributes';
import { CancelledError, describeError, PipelineError, UsageError } from '../errors';
import { runMain } from '../process/main';
import { abortOnSignals } from '../process/signals';
import { waitUntil } from '../process/wait';
import { ProgressBar } from './progress';
import { rangesFrom, readRanges, readRecordAt, type TopicRecord } from '../clients/topic-range';
import { connectKafkaReader, kafkaFailure } from './kafka-reader';
import { parseOptions, parseTime } from './options';
import { installRequestQueueFix } from '../clients/kafkajs-request-queue';

const DEFAULT_SPAN_MS = 86_400_000;
/**
 * A dead letter is written after it failed, so its Kafka timestamp is no earlier than its
 * dlq.failed_at, but for the clocks of the Temporal server (which dates a batch) and the worker
 * (which dates the record): reading starts this much before the window.
 */
const FAILED_AT_MARGIN_MS = 600_000;
/** `show` prints at most this much of a value as text or hex; `--json` gives it whole. */
const SHOW_LIMIT_BYTES = 65_536;

installRequestQueueFix();
runMain(async () => {
  const config = loadConfig();
  const args = process.argv.slice(2);
  const command = args[0] !== undefined && !args[0].startsWith('--') ? args.shift()! : 'list';
  if (command === 'list') return list(config, args);
  if (command === 'show') return show(config, args);
  if (command === 'replay') return replay(config, args);
  throw new UsageError(`Unknown dlq command "${command}"; expected list, show or replay.`);
});

async function list(config: Config, args: string[]): Promise<void> {
  const opts = parseOptions(args, { since: 'string', until: 'string', reason: 'string', field: 'string', json: 'boolean' });
  const untilMs = opts.until ? parseTime('until', opts.until) : Date.now();
  const sinceMs = opts.since ? parseTime('since', opts.since) : untilMs - DEFAULT_SPAN_MS;
  if (sinceMs >= untilMs) throw new UsageError('--since must be before --until.');
  const filter: DeadLetterFilter = { sinceMs, untilMs, reason: opts.reason, field: opts.field };
  const topic = config.kafka.dlqTopic;
  const groups = new DeadLetterGroups();
  let read = 0;
  const reader = await connectKafkaReader(config, 'dlq');
  try {
    const ranges = await rangesFrom(reader.ranges, reader.admin, topic, sinceMs - FAILED_AT_MARGIN_MS);
    await readRanges(reader.ranges, topic, ranges, (records) => {
      for (const record of records) {
        read++;
        const info = describeDeadLetter(record);
        if (matchesFilter(info, filter)) groups.add(record, info);
      }
    });
  } catch (err) {
    throw kafkaFailure(err, config, `read ${topic}`);
  } finally {
    await reader.close();
  }
  const result = {
    topic,
    window: { since: new Date(sinceMs).toISOString(), until: new Date(untilMs).toISOString(), on: 'dlq.failed_at' },
    filters: { reason: opts.reason ?? null, field: opts.field ?? null },
    records_read: read,
    total: groups.total,
    groups: groups.list(),
  };
  process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : renderList(result));
}

function renderList(result: {
  topic: string;
  window: { since: string; until: string };
  filters: { reason: string | null; field: string | null };
  total: number;
  groups: DeadLetterGroup[];
}): string {
  const filters = [result.filters.reason && `reason ${result.filters.reason}`, result.filters.field && `field ${result.filters.field}`].filter(Boolean);
  const lines = [
    `Dead letters of ${result.topic} that failed from ${result.window.since} to ${result.window.until} (dlq.failed_at)${filters.length ? `, ${filters.join(', ')}` : ''}:`,
    result.total === 0 ? 'none.' : `${result.total} in ${result.groups.length} group${result.groups.length === 1 ? '' : 's'} by reason, field and error.`,
  ];
  if (result.total === 0) return `${lines.join(' ')}\n`;
  const header = ['count', 'reason', 'field', 'first seen', 'last seen'];
  const rows = result.groups.map((g) => [String(g.count), g.reason, g.field ?? '-', g.first_seen, g.last_seen]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const indent = ' '.repeat(widths[0]! + 2);
  lines.push('', format(header.map((h) => h.toUpperCase())));
  result.groups.forEach((g, i) => {
    lines.push(format(rows[i]!));
    lines.push(`${indent}${g.error ?? '(no dlq.error header)'}`);
    if (g.malformed > 0) lines.push(`${indent}${g.malformed} with missing or unreadable dlq.* headers`);
    const from = g.sample.source ? ` (input ${g.sample.source.topic} ${g.sample.source.partition}:${g.sample.source.offset})` : '';
    lines.push(`${indent}newest: ${g.sample.partition}:${g.sample.offset}${from}  key ${inline(g.sample.key)}  value ${inline(g.sample.value)}`);
  });
  lines.push('', 'See one in full: npm run dlq -- show <partition>:<offset>');
  return `${lines.join('\n')}\n`;
}

/** A short rendering of a sample: quoted text, or hex digits in pairs; its size when cut. */
function inline(view: BytesView): string {
  if (view.encoding === 'null') return 'null';
  const shown = view.encoding === 'text' ? JSON.stringify(view.data) : `hex ${view.data.replace(/(..)(?!$)/g, '$1 ')}`;
  return view.truncated ? `${shown}… (${view.bytes} bytes)` : shown;
}

async function show(config: Config, args: string[]): Promise<void> {
  const where = args[0] !== undefined && !args[0].startsWith('--') ? args.shift()! : undefined;
  const opts = parseOptions(args, { json: 'boolean' });
  const match = where === undefined ? null : /^(\d+):(\d+)$/.exec(where);
  if (!match) throw new UsageError('dlq show needs <partition>:<offset>, as `npm run dlq` lists them (e.g. 0:42).');
  const partition = Number(match[1]);
  const offset = BigInt(match[2]!).toString();
  const topic = config.kafka.dlqTopic;
  const reader = await connectKafkaReader(config, 'dlq');
  let record: TopicRecord | undefined;
  try {
    record = await readRecordAt(reader.ranges, reader.admin, topic, partition, offset);
  } catch (err) {
    throw kafkaFailure(err, config, `read ${topic}`);
  } finally {
    await reader.close();
  }
  if (!record) throw new UsageError(`${topic} has no record at ${partition}:${offset} (a transaction marker, or an aborted record).`);
  process.stdout.write(opts.json ? `${JSON.stringify(showJson(topic, record))}\n` : renderShow(topic, record));
}

function showJson(topic: string, record: RawRecord) {
  const info = describeDeadLetter(record);
  const headers: Record<string, BytesView> = {};
  for (const [name, value] of Object.entries(record.headers)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) headers[name] = viewBytes(typeof first === 'string' ? Buffer.from(first) : first, Infinity);
  }
  return {
    topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: new Date(record.timestamp).toISOString(),
    reason: info.reason,
    field: info.field,
    error: info.error,
    failed_at: info.failedAt,
    source: info.source,
    batch_id: info.batchId,
    problems: info.problems,
    headers,
    key: viewBytes(record.key, Infinity),
    value: viewBytes(record.value, Infinity),
  };
}

function renderShow(topic: string, record: RawRecord): string {
  const info = describeDeadLetter(record);
  const lines = [`${topic} ${record.partition}:${record.offset}, written ${new Date(record.timestamp).toISOString()} (Kafka timestamp)`, ''];
  lines.push(`reason ${info.reason}${info.field ? `, field ${info.field}` : ''}: ${info.error ?? '(no dlq.error header)'}`);
  if (info.problems.length > 0) lines.push(`Its headers: ${info.problems.join('; ')}.`);
  lines.push('', 'Headers');
  const names = Object.keys(record.headers);
  const width = Math.max(0, ...names.map((n) => n.length));
  if (names.length === 0) lines.push('  (none)');
  for (const name of names) {
    const raw = record.headers[name];
    const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
    for (const value of values) {
      const view = viewBytes(typeof value === 'string' ? Buffer.from(value) : value, 1024);
      lines.push(`  ${name.padEnd(width)}  ${view.encoding === 'text' ? view.data : `hex ${view.data}`}${view.truncated ? '…' : ''}`);
    }
  }
  for (const [label, bytes] of [['Key', record.key], ['Value', record.value]] as const) {
    lines.push('');
    if (bytes === null) {
      lines.push(`${label}: null`);
      continue;
    }
    const view = viewBytes(bytes, SHOW_LIMIT_BYTES);
    const cut = view.truncated ? `, the first ${SHOW_LIMIT_BYTES} ${view.encoding === 'text' ? 'characters' : 'bytes'} shown (--json for all)` : '';
    if (view.encoding === 'text') {
      lines.push(`${label}: text, ${bytes.length} bytes${cut}`, ...view.data.split('\n').map((l) => `  ${l}`));
    } else {
      lines.push(`${label}: hex (not printable UTF-8), ${bytes.length} bytes${cut}`, ...hexDump(bytes.subarray(0, SHOW_LIMIT_BYTES)).map((l) => `  ${l}`));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** How often the command asks a replay for its progress, and how long one answer may take (no worker: no answer). */
const PROGRESS_POLL_MS = 500;
const PROGRESS_QUERY_DEADLINE_MS = 3_000;
const NO_WORKER_AFTER_MS = 10_000;

async function replay(config: Config, args: string[]): Promise<number> {
  const opts = parseOptions(args, { since: 'string', until: 'string', reason: 'string', field: 'string', 'dry-run': 'boolean', json: 'boolean' });
  const selection: ReplaySelection = {};
  if (opts.reason !== undefined) selection.reason = opts.reason;
  if (opts.field !== undefined) selection.field = opts.field;
  if (opts.since !== undefined) selection.sinceMs = parseTime('since', opts.since);
  if (opts.until !== undefined) selection.untilMs = parseTime('until', opts.until);
  if (selection.sinceMs !== undefined && selection.untilMs !== undefined && selection.sinceMs >= selection.untilMs) throw new UsageError('--since must be before --until.');
  const dryRun = opts['dry-run'] === true;
  const dlqTopic = config.kafka.dlqTopic;
  const client = await connectClient(config.temporal, { connectTimeoutMs: 5_000 }).catch((err: unknown) => {
    throw new PipelineError(`Could not connect to Temporal at ${config.temporal.address}: ${describeError(err).replace(/\.$/, '')}.`, { cause: err, retriable: true });
  });
  try {
    const input: ReplayInput = { dlqTopic, selection, dryRun };
    const workflowId = replayWorkflowId(dlqTopic, selection, dryRun);
    // One workflow per selection: the same command while it runs follows it (a second terminal,
    // or after the first was killed); once it ended, the same id starts a new run.
    const handle = await client.workflow.start(REPLAY_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: config.temporal.taskQueue,
      args: [input],
      memo: { dlq_topic: dlqTopic, selection: describeSelection(selection), dry_run: dryRun },
      typedSearchAttributes: [
        { key: BATCH_TOPIC, value: dlqTopic },
        { key: BATCH_GROUP, value: config.kafka.groupId },
      ],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    });
    const link = `${config.temporal.uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
    process.stderr.write(`${dryRun ? 'Dry run of a replay' : 'Replay'} of ${dlqTopic}, ${describeSelection(selection)}: workflow ${workflowId}\n${link}\n`);

    let finished = false;
    const outcome = handle.result().finally(() => (finished = true));
    outcome.catch(() => undefined);
    let bar: ProgressBar | undefined;
    let unansweredSince: number | undefined;
    let saidNoWorker = false;
    try {
      await abortOnSignals((signal) =>
        waitUntil(
          async () => {
            if (finished) return true;
            const progress = await client.connection
              .withDeadline(Date.now() + PROGRESS_QUERY_DEADLINE_MS, () => handle.query<ReplayProgress>(REPLAY_PROGRESS_QUERY))
              .catch((err: unknown) => {
                // A query needs a worker: say once that none answers, rather than wait in silence.
                unansweredSince ??= Date.now();
                if (!saidNoWorker && Date.now() - unansweredSince > NO_WORKER_AFTER_MS) {
                  saidNoWorker = true;
                  process.stderr.write(`No worker answers on task queue ${config.temporal.taskQueue}: the replay waits in Temporal until one runs (npm run worker).\n`);
                }
                throw err;
              });
            unansweredSince = undefined;
            if (isInteractive() && progress.offsets.total > 0) {
              bar ??= new ProgressBar(progress.offsets.total, 'DLQ offsets');
              bar.update(progress.offsets.done);
            }
            return false;
          },
          { timeoutMs: Number.POSITIVE_INFINITY, intervalMs: PROGRESS_POLL_MS, message: 'the replay to finish', signal },
        ),
      );
    } catch (err) {
      if (!(err instanceof CancelledError)) throw err;
      process.stderr.write(`\nStopped following; the replay goes on in Temporal. The same command follows it again.\n`);
      return 130;
    }
    let result: ReplayResult;
    try {
      result = (await outcome) as ReplayResult;
    } catch (err) {
      if (err instanceof WorkflowFailedError) throw new PipelineError(`The replay ${workflowId} failed: ${rootMessage(err).replace(/\.$/, '')}.`, { cause: err });
      throw err;
    }
    // A replay done before the first answer still shows its (full) bar.
    if (isInteractive() && result.offsets.total > 0) (bar ??= new ProgressBar(result.offsets.total, 'DLQ offsets')).done();
    process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : renderReplay(result, config));
    return 0;
  } finally {
    await client.connection.close().catch(() => undefined);
  }
}

function renderReplay(result: ReplayResult, config: Config): string {
  const { totals } = result;
  const lines = [
    `${result.dryRun ? 'Dry run, nothing written. ' : ''}Replay of ${result.dlqTopic}, ${describeSelection(result.selection)}: workflow ${result.replayId}.`,
    `Read ${fmt(result.counts.read)} dead letter${result.counts.read === 1 ? '' : 's'}; ${fmt(totals.selected)} selected.`,
  ];
  if (totals.selected > 0) {
    const replayed = result.dryRun ? 'would replay' : 'replayed';
    const header = ['reason', 'field', 'selected', replayed, 'already replayed', 'still invalid', 'not replayable'];
    const row = (g: Omit<ReplayResult['totals'], never> & { reason: string; field: string | null }) => [
      g.reason,
      g.field ?? '-',
      fmt(g.selected),
      fmt(g.replayed),
      fmt(g.alreadyReplayed),
      fmt(g.stillInvalid),
      fmt(g.notReplayable),
    ];
    const rows = [...result.counts.groups.map(row), row({ reason: 'total', field: '', ...totals })];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const format = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
    lines.push('', format(header.map((h) => h.toUpperCase())));
    result.counts.groups.forEach((g, i) => {
      lines.push(format(rows[i]!));
      if (g.stillInvalidSample) {
        const s = g.stillInvalidSample;
        lines.push(`  still invalid today: ${s.reason}${s.field ? ` (${s.field})` : ''}: ${s.error} e.g. ${s.partition}:${s.offset}`);
      }
    });
    lines.push(format(rows.at(-1)!));
  }
  lines.push('');
  if (result.dryRun) {
    lines.push(`Would publish ${fmt(totals.replayed)} as logins to ${config.kafka.outputTopic}; ${fmt(totals.stillInvalid + totals.notReplayable)} would stay in ${result.dlqTopic}.`);
  } else {
    const stay = `${fmt(totals.stillInvalid + totals.notReplayable)} stay in ${result.dlqTopic}`;
    if (totals.replayed > 0) lines.push(`${fmt(totals.replayed)} published as logins to ${config.kafka.outputTopic} (each once, counted once in Redis); ${stay}.`);
    else lines.push(`Nothing published${totals.alreadyReplayed > 0 ? `: ${fmt(totals.alreadyReplayed)} had been replayed before` : ''}; ${stay}.`);
    if (totals.stillInvalid > 0) lines.push('See one: npm run dlq -- show <partition>:<offset>');
  }
  return `${lines.join('\n')}\n`;
}

/** The innermost cause's message: a failed activity's failure says "Activity task failed", its cause why. */
function rootMessage(err: unknown): string {
  let current = err;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

function fmt(n: number): string {
  return new Intl.NumberFormat('en-US').format(n);
}
