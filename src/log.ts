/**
 * Structured logs (pino): JSON lines for machines, readable lines on a terminal. Secrets that
 * could travel in a logged object are redacted by path.
 */
import pino, { type Logger } from 'pino';
import { isInteractive, type Config } from './config';

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
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    timestamp: pino.stdTimeFunctions.isoTime,
    transport: pretty
      ? { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } }
      : undefined,
  });
}

/** The error's message and its chain of causes, never its own enumerable fields (which may hold config). */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    parts.push(current instanceof Error ? `${current.name}: ${current.message}` : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(' ← ');
}
