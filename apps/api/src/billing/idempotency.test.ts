import { describe, expect, it } from 'vitest';
import { clientIdempotencyKey, stripeIdempotencyKey } from './idempotency.js';

const minute = Date.UTC(2026, 0, 1, 12, 30);

describe('Stripe idempotency keys', () => {
  it('are stable within a minute and change with the next minute', () => {
    const key = stripeIdempotencyKey(
      'upgrade',
      ['u1', 'sub_1', 'price_2'],
      undefined,
      minute + 1_000,
    );
    expect(key).toMatch(/^billing-api:upgrade:[0-9a-f]{40}$/);
    expect(
      stripeIdempotencyKey('upgrade', ['u1', 'sub_1', 'price_2'], undefined, minute + 59_000),
    ).toBe(key);
    expect(
      stripeIdempotencyKey('upgrade', ['u1', 'sub_1', 'price_2'], undefined, minute + 60_000),
    ).not.toBe(key);
  });

  it('with a client key, ignore the clock and differ per action and parameters', () => {
    const a = stripeIdempotencyKey('cancel', ['u1', 'sub_1'], 'k', minute);
    expect(stripeIdempotencyKey('cancel', ['u1', 'sub_1'], 'k', minute + 3_600_000)).toBe(a);
    expect(stripeIdempotencyKey('resume', ['u1', 'sub_1'], 'k', minute)).not.toBe(a);
    expect(stripeIdempotencyKey('cancel', ['u2', 'sub_1'], 'k', minute)).not.toBe(a);
  });

  it('client keys: printable ASCII up to 200 characters; anything else names the header', () => {
    expect(clientIdempotencyKey(undefined)).toBeUndefined();
    expect(clientIdempotencyKey('order-42')).toBe('order-42');
    expect(() => clientIdempotencyKey('two words')).toThrow(/Idempotency-Key/);
    expect(() => clientIdempotencyKey('x'.repeat(201))).toThrow(/Idempotency-Key/);
  });
});
