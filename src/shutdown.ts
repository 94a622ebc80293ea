import type { Logger } from './log';

/**
 * SIGINT/SIGTERM start a graceful stop (in-flight work finishes within its bound); a second
 * signal exits at once. Exits 0 when the stop completes, 1 when it fails.
 */
export function onShutdownSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'Second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'Stopping gracefully (send the signal again to exit at once)');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'Graceful stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
