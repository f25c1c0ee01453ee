import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { classifyError, describeError, PermanentSyncError } from './errors.js';

const pgError = (code: string) =>
  Object.assign(new Error(`pg ${code}`), { name: 'PostgresError', code });

describe('classifyError', () => {
  it('retries deadlocks, serialization failures, lock timeouts and lost connections', () => {
    for (const code of ['40P01', '40001', '55P03', '57P01', '08006'])
      expect(classifyError(pgError(code)), code).toBe('transient');
    for (const code of ['ECONNREFUSED', 'CONNECTION_CLOSED', 'CONNECT_TIMEOUT']) {
      expect(classifyError(Object.assign(new Error(code), { code })), code).toBe('transient');
    }
  });

  it('retries Stripe rate limits, 5xx and connection errors, not a bad request', () => {
    const errors = Stripe.errors;
    expect(
      classifyError(new errors.StripeRateLimitError({ message: 'slow down', statusCode: 429 })),
    ).toBe('transient');
    expect(classifyError(new errors.StripeAPIError({ message: 'boom', statusCode: 500 }))).toBe(
      'transient',
    );
    expect(classifyError(new errors.StripeConnectionError({ message: 'reset' }))).toBe('transient');
    expect(
      classifyError(new errors.StripeInvalidRequestError({ message: 'bad', statusCode: 400 })),
    ).toBe('permanent');
  });

  it('fails permanently on unparsable payloads, data errors and programming errors', () => {
    expect(classifyError(z.object({ a: z.string() }).safeParse({}).error)).toBe('permanent');
    expect(classifyError(new PermanentSyncError('x', 'bad'))).toBe('permanent');
    expect(classifyError(pgError('23502'))).toBe('permanent');
    expect(classifyError(new TypeError('x is undefined'))).toBe('permanent');
  });

  it('classifies a driver error wrapped by Drizzle by its cause', () => {
    const wrapped = new Error('Failed query: insert into … params: secret-ish', {
      cause: pgError('40P01'),
    });
    expect(classifyError(wrapped)).toBe('transient');
    expect(describeError(wrapped)).not.toContain('params');
  });
});
