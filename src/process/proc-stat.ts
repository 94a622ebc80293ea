/** Reading /proc/<pid>/stat (Linux), for the benchmark's measures and the watchdog's parent check. */
import { readFileSync } from 'node:fs';

/**
 * Fields after the command of /proc/<pid>/stat (field 3 onwards: state, ppid, …); undefined when
 * the process is gone or there is no /proc. The command may hold spaces and parentheses, so the
 * fields start after its last ')'.
 */
export function procStatFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
