/**
 * How many CPUs this process may use: the scheduler's affinity (os.availableParallelism), bounded
 * by a cgroup v2 CPU quota when there is one (a container given 1.5 CPUs on a 64-core node counts
 * 2, not 64).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const CGROUP_CPU_MAX = '/sys/fs/cgroup/cpu.max';

export function usableCpus(): number {
  return Math.max(1, Math.min(availableParallelism(), cgroupQuota() ?? Infinity));
}

/** `cpu.max` holds "<quota> <period>" in microseconds, or "max <period>" without a quota. */
function cgroupQuota(): number | undefined {
  try {
    const [quota, period] = readFileSync(CGROUP_CPU_MAX, 'utf8').trim().split(/\s+/);
    if (!quota || quota === 'max' || !period) return undefined;
    return Math.ceil(Number(quota) / Number(period));
  } catch {
    return undefined;
  }
}
