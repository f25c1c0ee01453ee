/**
 * Stripe answers 429 when a key exceeds its rate limit. The Stripe client retries only when
 * Stripe sends `Stripe-Should-Retry: true`, so every bulk caller here wraps its calls in
 * `withRateLimitRetry`: exponential backoff with jitter (half the step fixed, half random), never shorter than the
 * `Retry-After` the response asked for, up to `maxRetries`; after that a
 * RateLimitExhaustedError, which callers report as "incomplete", never as success.
 */

export interface BackoffOptions {
  /** Retries after the first 429 before giving up. Default 6. */
  maxRetries?: number;
  /** First delay, doubled on each retry. Default 500 ms. */
  baseDelayMs?: number;
  /** Cap of one delay. Default 30 s. */
  maxDelayMs?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called before each wait (logging, metrics). */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

export class RateLimitExhaustedError extends Error {
  readonly code = 'rate_limit_exhausted';
  constructor(
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(`Stripe kept answering 429 after ${attempts} attempts`, options);
    this.name = 'RateLimitExhaustedError';
  }
}

interface StripeLikeError {
  type?: unknown;
  statusCode?: unknown;
  headers?: unknown;
  raw?: { headers?: unknown };
}

export function isRateLimited(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as StripeLikeError;
  return e.type === 'StripeRateLimitError' || e.statusCode === 429;
}

/** The Retry-After of a Stripe error response, in ms (seconds or an HTTP date). */
export function retryAfterMs(error: unknown, now = Date.now()): number | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const e = error as StripeLikeError;
  const headers = (e.headers ?? e.raw?.headers) as Record<string, unknown> | undefined;
  if (!headers || typeof headers !== 'object') return undefined;
  const raw = headers['retry-after'] ?? headers['Retry-After'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(String(value));
  return Number.isNaN(date) ? undefined : Math.max(date - now, 0);
}

/** Delay before retry `attempt` (1-based): the exponential step with jitter, at least Retry-After. */
export function rateLimitDelayMs(
  attempt: number,
  error: unknown,
  options: BackoffOptions = {},
): number {
  const base = options.baseDelayMs ?? 500;
  const cap = options.maxDelayMs ?? 30_000;
  const random = options.random ?? Math.random;
  const step = Math.min(base * 2 ** Math.max(attempt - 1, 0), cap);
  const jittered = Math.round(step / 2 + random() * (step / 2));
  return Math.min(
    Math.max(jittered, retryAfterMs(error) ?? 0),
    Math.max(cap, retryAfterMs(error) ?? 0),
  );
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `fn`, retrying it on 429 only; other errors propagate at once. */
export async function withRateLimitRetry<T>(
  fn: () => Promise<T>,
  options: BackoffOptions = {},
): Promise<T> {
  const maxRetries = options.maxRetries ?? 6;
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isRateLimited(error)) throw error;
      if (attempt > maxRetries) throw new RateLimitExhaustedError(attempt, { cause: error });
      const delayMs = rateLimitDelayMs(attempt, error, options);
      options.onRetry?.({ attempt, delayMs, error });
      await wait(delayMs);
    }
  }
}
