/**
 * Structured logs (pino): JSON lines for machines, readable lines on a terminal. Secrets that
 * could travel in a logged object are redacted by path.
 */
import pino, { type Logger } from 'pino';
import { isInteractive, type Config } from './config';
import { describeError } from './errors';

export type { Logger } from 'pino';

const REDACTED_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'apiKey',
  '*.apiKey',
  '*.*.apiKey',
  'sasl',
  '*.sasl',
  '*.*.sasl',
  'authorization',
  '*.authorization',
  'headers.authorization',
];

export function createLogger(name: string, config: Pick<Config, 'log'>): Logger {
  const pretty = config.log.format === 'pretty' || (config.log.format === 'auto' && isInteractive());
  return pino({
    name,
    level: config.log.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    serializers: { err: serializeError, error: serializeError },
    timestamp: pino.stdTimeFunctions.isoTime,
    transport: pretty
      ? { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } }
      : undefined,
  });
}

/** Fields of an error that are safe to log: never the options or configuration a library kept on it. */
const SAFE_ERROR_FIELDS = ['code', 'type', 'retriable', 'service', 'address'] as const;

/**
 * pino's error serializer, narrowed: type, message (with its chain of causes), stack and a few
 * known-safe fields. pino's own copies every enumerable field, and client libraries keep
 * connection options (passwords, API keys) on some of theirs.
 */
export function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const serialized: Record<string, unknown> = { type: err.name, message: describeError(err), stack: err.stack };
  for (const field of SAFE_ERROR_FIELDS) {
    const value = (err as unknown as Record<string, unknown>)[field];
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') serialized[field === 'type' ? 'kind' : field] = value;
  }
  return serialized;
}
