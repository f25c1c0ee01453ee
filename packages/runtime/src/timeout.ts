/** What `withTimeout` rejects with when the deadline passes first (unless told otherwise). */
export class TimeoutError extends Error {
  constructor(
    readonly ms: number,
    message = `timed out after ${ms} ms`,
  ) {
    super(message);
    this.name = 'TimeoutError';
  }
}

// setTimeout takes at most 2^31-1 ms and fires at once past that.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Settles as `work` does, or rejects with `onTimeout()` (by default a TimeoutError) once `ms`
 * have passed, whichever comes first. The timer is cleared either way, so a finished race
 * keeps no timer (and no process) alive. `work` itself is not cancelled: callers that need
 * that (a socket to drop, a request to abort) do it when they see the timeout.
 */
export async function withTimeout<T>(
  work: PromiseLike<T>,
  ms: number,
  onTimeout: () => unknown = () => new TimeoutError(ms),
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), Math.min(Math.max(0, ms), MAX_TIMER_MS));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
