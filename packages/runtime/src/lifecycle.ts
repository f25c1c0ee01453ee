import type { Logger } from '@billing/logger';
import { withTimeout } from './timeout.js';

export interface ShutdownStep {
  name: string;
  /** The graceful path: stop taking work, finish or release in-flight work, close. */
  run: () => Promise<unknown>;
  /**
   * The forceful path, called without waiting for it when the shutdown deadline passes (for
   * the step that was running and every later one) or on a second signal: drop connections
   * instead of draining them. The process exits right after, which closes every socket
   * anyway; `force` makes that explicit and must not throw or block.
   */
  force?: () => unknown;
}

export interface ShutdownResult {
  /** The exit code: 0 when every step finished in time, 1 otherwise. */
  code: 0 | 1;
  /** The deadline passed (or a second signal came) before the steps were done. */
  timedOut: boolean;
  /** Steps that threw, exceeded their own cap, or were cut off. */
  failed: string[];
}

export interface Lifecycle {
  isShuttingDown(): boolean;
  /** Runs the steps in order within the deadline, then exits (unless `exit: false`). */
  shutdown(reason: string): Promise<ShutdownResult>;
}

export interface LifecycleOptions {
  /**
   * Deadline for the whole shutdown, from the first signal (SHUTDOWN_TIMEOUT_MS). When it
   * passes the remaining steps are forced and the process exits 1. Default 25 s (or
   * `stepTimeoutMs` if that is longer): below the 30 s Kubernetes gives a pod between SIGTERM
   * and SIGKILL, so the process ends on its own terms (forced closes done, the reason logged)
   * instead of being killed mid-step.
   */
  timeoutMs?: number;
  /** Optional cap on each single step, inside the deadline; a step over it is forced and skipped. */
  stepTimeoutMs?: number;
  /** Call process.exit with the result's code (default true); tests turn it off. */
  exit?: boolean;
  /** Install SIGTERM/SIGINT and crash handlers (default true); tests turn it off. */
  signals?: boolean;
}

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;

const TIMED_OUT = Symbol('timed out');

/** Resolves with the promise's outcome, or TIMED_OUT after `ms`; never rejects. */
function within(
  work: Promise<unknown>,
  ms: number,
): Promise<{ ok: true } | { ok: false; error: unknown } | typeof TIMED_OUT> {
  const outcome = work.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  // `outcome` never rejects, so the only rejection is the deadline's.
  return withTimeout(outcome, ms, () => TIMED_OUT).catch(() => TIMED_OUT);
}

/**
 * Graceful shutdown, bounded: on SIGTERM/SIGINT run the steps in order (stop taking work,
 * finish or release in-flight work, close Redis and Postgres) within one deadline. A step
 * still running at the deadline (say a BullMQ close waiting on a Redis that is gone) is not
 * waited for: it and every later step are forced, and the process exits 1. A second signal
 * forces everything and exits 1 at once. Crashes exit 1 after logging.
 */
export function createLifecycle(
  logger: Logger,
  steps: ShutdownStep[],
  options: LifecycleOptions = {},
): Lifecycle {
  const stepTimeoutMs = options.stepTimeoutMs ?? Number.POSITIVE_INFINITY;
  // A caller that only caps its steps (the ingress: its drain budget + 5 s) still gets a
  // deadline, never shorter than one full step.
  const timeoutMs =
    options.timeoutMs ??
    Math.max(DEFAULT_SHUTDOWN_TIMEOUT_MS, options.stepTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
  const exit = options.exit ?? true;
  let stopping: Promise<ShutdownResult> | undefined;
  let forced = false;

  // Best effort and never awaited: a force that hangs or throws must not keep the process up.
  const force = (which: ShutdownStep[], why: string) => {
    for (const step of which) {
      if (!step.force) continue;
      try {
        const result = step.force();
        if (result instanceof Promise) result.catch(() => undefined);
      } catch (error) {
        logger.warn({ err: error, step: step.name, why }, 'forced close failed');
      }
    }
  };

  const finish = (result: ShutdownResult) => {
    logger[result.code === 0 ? 'info' : 'error'](result, 'shutdown complete');
    if (exit) process.exit(result.code);
    return result;
  };

  const shutdown = (reason: string) => {
    stopping ??= (async () => {
      const deadline = Date.now() + timeoutMs;
      logger.info({ reason, timeoutMs }, 'shutting down');
      const failed: string[] = [];
      for (const [index, step] of steps.entries()) {
        if (forced) return { code: 1 as const, timedOut: true, failed };
        const remaining = deadline - Date.now();
        const budget = Math.min(remaining, stepTimeoutMs);
        const outcome = await within(
          Promise.resolve().then(() => step.run()),
          budget,
        );
        if (forced) return { code: 1 as const, timedOut: true, failed };
        if (outcome === TIMED_OUT) {
          failed.push(step.name);
          if (budget === remaining) {
            // The deadline: stop waiting for anything, close the rest by force.
            const pending = steps.slice(index).map((s) => s.name);
            logger.error({ step: step.name, timeoutMs, pending }, 'shutdown deadline passed');
            force(steps.slice(index), 'deadline');
            return finish({ code: 1, timedOut: true, failed: [...failed, ...pending.slice(1)] });
          }
          logger.error({ step: step.name, stepTimeoutMs }, 'shutdown step timed out');
          force([step], 'step timeout');
          continue;
        }
        if (!outcome.ok) {
          failed.push(step.name);
          logger.error({ err: outcome.error, step: step.name }, 'shutdown step failed');
        }
      }
      return finish({ code: failed.length > 0 ? 1 : 0, timedOut: false, failed });
    })();
    return stopping;
  };

  if (options.signals ?? true) {
    const onSignal = (signal: NodeJS.Signals) => {
      if (!stopping) {
        void shutdown(signal);
        return;
      }
      // Second signal: the operator (or the orchestrator) does not want to wait.
      forced = true;
      logger.error({ signal }, 'second signal during shutdown: exiting now');
      force(steps, 'second signal');
      if (exit) process.exit(1);
    };
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, onSignal);
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
