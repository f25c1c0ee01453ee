import { describe, expect, it } from 'vitest';
import { TimeoutError, withTimeout } from './timeout.js';

const never = new Promise<never>(() => {});

describe('withTimeout', () => {
  it('passes through the value of work that settles first', async () => {
    expect(await withTimeout(Promise.resolve(7), 1_000)).toBe(7);
  });

  it('passes through the rejection of work that fails first', async () => {
    const failure = new Error('boom');
    await expect(withTimeout(Promise.reject(failure), 1_000)).rejects.toBe(failure);
  });

  it('rejects with a TimeoutError naming the deadline when work never settles', async () => {
    // Tried: a promise that never settles, with a 10 ms deadline.
    const error = await withTimeout(never, 10).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).ms).toBe(10);
    expect((error as Error).message).toBe('timed out after 10 ms');
  });

  it('rejects with what onTimeout returns, so callers keep their own error types', async () => {
    class Slow extends Error {}
    await expect(withTimeout(never, 10, () => new Slow('slow'))).rejects.toBeInstanceOf(Slow);
  });

  it('treats a deadline past what setTimeout takes as "very long", not "now"', async () => {
    // Tried: 2^32 ms, which Node's setTimeout would otherwise fire after 1 ms.
    expect(await withTimeout(new Promise((r) => setTimeout(() => r('done'), 20)), 2 ** 32)).toBe(
      'done',
    );
  });
});
