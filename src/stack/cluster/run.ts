/**
 * proc.ts's runSync without blocking the event loop: the cluster brings Kafka, Redis and Temporal
 * up side by side, and a storage format or a schema update in one chain must not stall the others.
 */
import { execFile } from 'node:child_process';
import type { Environment } from '../../config';
import { childEnvironment } from '../../process/environment';

export interface RunResult {
  /** The exit code; null when the command could not start, was killed, or timed out. */
  status: number | null;
  output: string;
}

export function run(command: string, args: string[], options: { env?: Environment; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: childEnvironment(options.env), timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        const status = err === null ? 0 : typeof code === 'number' ? code : null;
        const failure = status === null && err ? `${err.message}\n` : '';
        resolve({ status, output: `${stdout}${stderr}${failure}` });
      },
    );
  });
}

export function lastLine(output: string): string {
  return output.trim().split('\n').filter(Boolean).pop() ?? '(no output)';
}

/**
 * Runs `work` with the process held open. The waits of process/wait.ts never keep Node alive (by
 * design), so a command whose only pending work is such a wait (for a broker to start, for a
 * process to stop) would otherwise end there, with exit status 0 and the work half done.
 */
export async function holdingProcessOpen<T>(work: () => Promise<T>): Promise<T> {
  const handle = setInterval(() => undefined, 60_000);
  try {
    return await work();
  } finally {
    clearInterval(handle);
  }
}
