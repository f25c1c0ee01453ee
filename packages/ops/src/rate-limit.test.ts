import { describe, expect, it } from 'vitest';
import {
  isRateLimited,
  RateLimitExhaustedError,
  rateLimitDelayMs,
  retryAfterMs,
  withRateLimitRetry,
} from './rate-limit.js';

const rateLimited = (retryAfter?: string) =>
  Object.assign(new Error('Too many requests'), {
    type: 'StripeRateLimitError',
    statusCode: 429,
    headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter },
  });

describe('rate-limit back-off', () => {
  it('recognises Stripe 429s and nothing else', () => {
    expect(isRateLimited(rateLimited())).toBe(true);
    expect(isRateLimited({ statusCode: 429 })).toBe(true);
    expect(isRateLimited(Object.assign(new Error('x'), { statusCode: 500 }))).toBe(false);
    expect(isRateLimited(undefined)).toBe(false);
  });

  it('reads Retry-After given in seconds or as an HTTP date', () => {
    expect(retryAfterMs(rateLimited('2'))).toBe(2_000);
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(retryAfterMs(rateLimited('Tue, 01 Jan 2030 00:00:05 GMT'), now)).toBe(5_000);
    expect(retryAfterMs(rateLimited())).toBeUndefined();
  });

  it('grows exponentially with jitter and never waits less than Retry-After', () => {
    const opts = { baseDelayMs: 100, maxDelayMs: 10_000 };
    expect(rateLimitDelayMs(1, rateLimited(), { ...opts, random: () => 0 })).toBe(50);
    expect(rateLimitDelayMs(1, rateLimited(), { ...opts, random: () => 1 })).toBe(100);
    expect(rateLimitDelayMs(4, rateLimited(), { ...opts, random: () => 1 })).toBe(800);
    expect(rateLimitDelayMs(30, rateLimited(), { ...opts, random: () => 1 })).toBe(10_000);
    expect(rateLimitDelayMs(1, rateLimited('3'), { ...opts, random: () => 0 })).toBe(3_000);
  });

  it('retries only 429s, then gives up with RateLimitExhaustedError', async () => {
    const waits: number[] = [];
    let calls = 0;
    const sleep = async (ms: number) => {
      waits.push(ms);
    };
    await expect(
      withRateLimitRetry(
        async () => {
          calls++;
          throw rateLimited('0');
        },
        { maxRetries: 3, baseDelayMs: 1, sleep },
      ),
    ).rejects.toBeInstanceOf(RateLimitExhaustedError);
    expect(calls).toBe(4);
    expect(waits).toHaveLength(3);

    calls = 0;
    await expect(
      withRateLimitRetry(
        async () => {
          calls++;
          throw new Error('boom');
        },
        { sleep },
      ),
    ).rejects.toThrow('boom');
    expect(calls).toBe(1);

    calls = 0;
    const value = await withRateLimitRetry(
      async () => {
        calls++;
        if (calls < 3) throw rateLimited('0');
        return 'ok';
      },
      { baseDelayMs: 1, sleep },
    );
    expect(value).toBe('ok');
  });
});
