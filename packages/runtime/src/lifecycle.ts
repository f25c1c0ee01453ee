import type { Logger } from '@billing/logger';

export interface ShutdownStep {
  name: string;
  run: () => Promise<unknown>;
}

export interface Lifecycle {
  isShuttingDown(): boolean;
  /** Runs the steps in order (each bounded), then resolves; used by signals and tests. */
  shutdown(reason: string): Promise<void>;
}

/**
 * Graceful shutdown: on SIGTERM/SIGINT run the steps in order (stop taking work, finish or
 * release in-flight work, close Redis and Postgres), then exit. A second signal or a step
 * exceeding its budget does not hang the process. Crashes exit non-zero after logging.
 */
export function createLifecycle(
  logger: Logger,
  steps: ShutdownStep[],
  options: { stepTimeoutMs?: number; exit?: boolean; signals?: boolean } = {},
): Lifecycle {
  const stepTimeoutMs = options.stepTimeoutMs ?? 30_000;
  const exit = options.exit ?? true;
  let stopping: Promise<void> | undefined;

  const shutdown = (reason: string) => {
    stopping ??= (async () => {
      logger.info({ reason }, 'shutting down');
      let failed = false;
      for (const step of steps) {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            step.run(),
            new Promise((_, reject) => {
              timer = setTimeout(
                () => reject(new Error(`timed out after ${stepTimeoutMs} ms`)),
                stepTimeoutMs,
              );
            }),
          ]);
        } catch (error) {
          failed = true;
          logger.error({ err: error, step: step.name }, 'shutdown step failed');
        } finally {
          clearTimeout(timer);
        }
      }
      logger.info({ failed }, 'shutdown complete');
      if (exit) process.exit(failed ? 1 : 0);
    })();
    return stopping;
  };

  if (options.signals ?? true) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => void shutdown(signal));
    }
    process.on('uncaughtException', (error) => {
      logger.fatal({ err: error }, 'uncaught exception');
      process.exit(1);
    });
    process.on('unhandledRejection', (error) => {
      logger.fatal({ err: error }, 'unhandled rejection');
      process.exit(1);
    });
  }

  return { isShuttingDown: () => stopping !== undefined, shutdown };
}
