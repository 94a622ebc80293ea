/** SIGINT and SIGTERM: the first starts a graceful stop, a deliberate second one exits at once. */
import type { Logger } from '../log';

/**
 * One Ctrl-C often arrives twice: from the terminal to the whole process group, and again from
 * npm, which forwards the signals it gets to its child. A signal this soon after the first is
 * that same one; a later one is a second request.
 */
export const DUPLICATE_SIGNAL_WINDOW_MS = 1_000;

/** Calls `first` on the first SIGINT/SIGTERM and `again` on a deliberate second one. */
export function onSignals(first: (signal: NodeJS.Signals) => void, again: (signal: NodeJS.Signals) => void): void {
  let firstAt: number | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (firstAt === undefined) {
      firstAt = Date.now();
      first(signal);
    } else if (Date.now() - firstAt > DUPLICATE_SIGNAL_WINDOW_MS) {
      again(signal);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/**
 * SIGINT/SIGTERM start a graceful stop (in-flight work finishes within its bound); a second
 * signal exits at once. Exits 0 when the stop completes, 1 when it fails.
 */
export function onShutdownSignals(logger: Logger, stop: () => Promise<void>): void {
  onSignals(
    (signal) => {
      logger.info({ signal }, 'Stopping gracefully (send the signal again to exit at once)');
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'Graceful stop failed');
          process.exit(1);
        },
      );
    },
    (signal) => {
      logger.warn({ signal }, 'Second signal: exiting now');
      process.exit(130);
    },
  );
}

/**
 * Runs work that must not be cut off half-way by Ctrl-C (provisioning: a download, a build, an
 * apt transaction). While it runs, the first SIGINT/SIGTERM aborts its signal instead of ending
 * the process, so that it stops its children and cleans up before it rejects; a deliberate second
 * signal exits at once. The handlers are gone once it settles.
 */
export async function abortOnSignals<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let firstAt: number | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (firstAt === undefined) {
      firstAt = Date.now();
      controller.abort(signal);
    } else if (Date.now() - firstAt > DUPLICATE_SIGNAL_WINDOW_MS) {
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}

/**
 * An operator's request by signal (SIGUSR2: resume the bridge's input), for processes that have
 * no terminal: `kill -USR2 <pid>`. Handled for the life of the process.
 */
export function onRequestSignal(signal: 'SIGUSR1' | 'SIGUSR2', handler: () => void): void {
  process.on(signal, handler);
}
