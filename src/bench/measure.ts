/** What the benchmark reads off processes (/proc) and computes from samples. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { procStatFields } from '../process/proc-stat';

/** Clock ticks per second of /proc/<pid>/stat's CPU times (sysconf CLK_TCK; 100 on Linux almost always). */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** The process and its descendants (a supervised worker's processes), from /proc's parent pids. */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = procStatFields(Number(entry));
    if (fields) parents.set(Number(entry), Number(fields[1]));
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  return tree;
}

/** CPU seconds the process tree has used so far (user + system, fields 14 and 15 of /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    const fields = procStatFields(p);
    return fields ? sum + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS : sum;
  }, 0);
}

/** The largest of the kernel's records of the most memory each process of the tree held resident (VmHWM), MB. */
export function peakRssMb(pid: number): number {
  return Math.max(
    ...processTree(pid).map((p) => {
      try {
        return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024;
      } catch {
        return 0;
      }
    }),
  );
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function round(n: number, digits: number): number {
  return Number(n.toFixed(digits));
}

/**
 * When each tenth of a run's records was out: seconds from `startMs` to the time by which the
 * first 10%, 20%, ... 100% of `times` (epoch ms, any order) had passed. A run whose throughput is
 * flat has evenly spaced tenths; a start that costs more shows as a longer first one.
 */
export function tenthsOut(startMs: number, times: readonly number[]): number[] {
  const sorted = [...times].sort((a, b) => a - b);
  if (sorted.length === 0) return [];
  return Array.from({ length: 10 }, (_, i) => round((sorted[Math.ceil(((i + 1) * sorted.length) / 10) - 1]! - startMs) / 1000, 3));
}

/** Records per second over the last nine tenths of a run (see tenthsOut): its rate once started; null when they took no time. */
export function laterRate(records: number, tenths: readonly number[]): number | null {
  const span = (tenths[9] ?? 0) - (tenths[0] ?? 0);
  return tenths.length === 10 && span > 0 ? Math.round((records - Math.ceil(records / 10)) / span) : null;
}

/** One run of the flatness phase: the pipeline alone on `records` records, timed as the throughput phase is. */
export interface SizeRun {
  records: number;
  records_per_s: number;
  seconds: number;
  tenths_s: number[];
  later_records_per_s: number | null;
  lost: number;
  duplicates: number;
}

export interface Flatness {
  /** The small size's rate: the mean of its runs before and after the large one. */
  small_records_per_s: number;
  large_records_per_s: number;
  /** Large over small: 1 when throughput is flat with size; within 10% is 0.9 to 1.1. */
  ratio: number;
  /** In the order they ran: small, large, small. */
  runs: SizeRun[];
}

/** The flatness of runs made small, large, small (see Flatness). */
export function flatnessOf(runs: readonly SizeRun[]): Flatness {
  if (runs.length !== 3 || runs[0]!.records !== runs[2]!.records) throw new Error('Flatness takes three runs: small, large, small.');
  const small = (runs[0]!.records_per_s + runs[2]!.records_per_s) / 2;
  const large = runs[1]!.records_per_s;
  return { small_records_per_s: Math.round(small), large_records_per_s: Math.round(large), ratio: round(large / small, 3), runs: [...runs] };
}
