import type { Logger } from '../core/logger.js';

/**
 * SIGTERM/SIGINT: close everything in order within a deadline, then exit 0 (1 when closing failed or
 * took too long). A second signal exits at once, for an operator who does not want to wait.
 */
export function exitOnSignals(log: Logger, close: () => Promise<void>, deadlineMs = 30_000): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      log.error({ deadlineMs }, 'shutdown deadline passed: exiting');
      process.exit(1);
    }, deadlineMs);
    deadline.unref();
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
