/** Command-line options of our commands: `--name value` and `--flag`. */
import { UsageError } from '../errors';

/** Parses `--name value` and `--flag` options; unknown options are an error naming them. */
export function parseOptions<T extends Record<string, 'string' | 'boolean'>>(
  argv: string[],
  spec: T,
): { [K in keyof T]?: T[K] extends 'boolean' ? boolean : string } {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!match || !(match[1]! in spec)) throw new UsageError(`Unknown option ${arg}; expected one of ${Object.keys(spec).map((k) => `--${k}`).join(', ')}.`);
    const name = match[1]!;
    if (spec[name] === 'boolean') {
      out[name] = match[2] === undefined ? true : !/^(0|false|no)$/i.test(match[2]);
    } else {
      const value = match[2] ?? argv[++i];
      if (value === undefined) throw new UsageError(`Option --${name} needs a value.`);
      out[name] = value;
    }
  }
  return out as { [K in keyof T]?: T[K] extends 'boolean' ? boolean : string };
}

/** Units of a relative time option (`15m`: fifteen minutes ago). */
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A time option: ISO-8601; epoch seconds (milliseconds from 10^12, as for record timestamps);
 * `now`; or a duration ago, `<n>s`, `<n>m`, `<n>h` or `<n>d` (as `docker logs --since 10m`).
 * Returns epoch milliseconds.
 */
export function parseTime(name: string, text: string, nowMs: number = Date.now()): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= 1e12 ? n : n * 1000;
  }
  if (text === 'now') return nowMs;
  const ago = /^(\d+)([smhd])$/.exec(text);
  if (ago) return nowMs - Number(ago[1]) * UNIT_MS[ago[2]!]!;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`--${name} must be ISO-8601, epoch seconds, now, or a duration ago such as 15m, 2h or 1d; got "${text}".`);
  return ms;
}
