import { createStripeClient, STRIPE_API_VERSION } from '@billing/stripe';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeStripe, isKnownStripeVersion, startFakeStripe } from './server.js';

// The fake refuses what Stripe refuses, with Stripe's error shapes, so a request the product
// gets wrong fails locally too. Each case was accepted (200) before these checks existed.
const fake: FakeStripe = await startFakeStripe({
  maxNetworkRetries: 0,
  connectedAccounts: ['acct_connected'],
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const raw = async (
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
) => {
  const response = await fetch(`${fake.url}${path}`, {
    method,
    headers: {
      authorization: 'Bearer sk_test_strict',
      ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      ...headers,
    },
    body,
  });
  return {
    status: response.status,
    error: ((await response.json()) as { error?: Record<string, string> }).error,
  };
};

describe('strict like Stripe', () => {
  it('answers parameter_unknown for a parameter the endpoint does not take, changing nothing', async () => {
    const created = await raw('POST', '/v1/customers', 'email=a%40example.com&colour=blue');
    expect(created).toMatchObject({
      status: 400,
      error: { type: 'invalid_request_error', code: 'parameter_unknown', param: 'colour' },
    });
    expect(created.error?.message).toBe('Received unknown parameter: colour');
    expect(fake.state.customers.size).toBe(0);
    expect((await raw('GET', '/v1/subscriptions?customer=cus_1&bogus=1')).error?.param).toBe(
      'bogus',
    );
    // Parameters Stripe knows (even ones the fake ignores) and expand[] pass.
    expect(
      (
        await raw(
          'POST',
          '/v1/customers',
          'email=b%40example.com&preferred_locales[0]=en&expand[0]=tax',
        )
      ).status,
    ).toBe(200);
  });

  it('refuses an API version Stripe does not have, and accepts the pinned one', async () => {
    for (const version of ['2099-01-01', '2025-02-30.basil', 'latest', '2025-03-31.zebra']) {
      const answer = await raw('GET', '/v1/customers', undefined, { 'stripe-version': version });
      expect(answer, version).toMatchObject({
        status: 400,
        error: { code: 'api_version_invalid' },
      });
    }
    expect(isKnownStripeVersion(STRIPE_API_VERSION)).toBe(true);
    expect(isKnownStripeVersion('2025-03-31.basil')).toBe(true);
    expect(isKnownStripeVersion('2023-10-16')).toBe(true);
    expect((await fake.stripe.customers.list()).object).toBe('list');
  });

  it('refuses a client_reference_id over 200 characters and more than 10 lookup_keys', async () => {
    const price = await fake.stripe.prices.create({
      currency: 'usd',
      unit_amount: 100,
      recurring: { interval: 'month' },
      product_data: { name: 'P' },
    });
    const session = (reference: string) =>
      raw(
        'POST',
        '/v1/checkout/sessions',
        `mode=subscription&line_items[0][price]=${price.id}&line_items[0][quantity]=1&success_url=https%3A%2F%2Fx.test&client_reference_id=${reference}`,
      );
    expect(await session('x'.repeat(201))).toMatchObject({
      status: 400,
      error: { param: 'client_reference_id' },
    });
    expect(fake.state.checkoutSessions.size).toBe(0);
    expect((await session('x'.repeat(200))).status).toBe(200);

    const keys = (n: number) =>
      Array.from({ length: n }, (_, i) => `lookup_keys[${i}]=k${i}`).join('&');
    expect(await raw('GET', `/v1/prices?${keys(11)}`)).toMatchObject({
      status: 400,
      error: { param: 'lookup_keys' },
    });
    expect((await raw('GET', `/v1/prices?${keys(10)}`)).status).toBe(200);
  });

  it('refuses a Stripe-Account that is not connected instead of answering with the platform data', async () => {
    await fake.stripe.customers.create({ email: 'platform@example.com' });
    const foreign = await raw('GET', '/v1/customers', undefined, {
      'stripe-account': 'acct_unknown',
    });
    expect(foreign).toMatchObject({ status: 403, error: { code: 'account_invalid' } });
    const connected = createStripeClient({ secretKey: 'sk_test_strict', apiBase: fake.url });
    const list = await connected.customers.list({}, { stripeAccount: 'acct_connected' });
    expect(list.object).toBe('list');
  });
});
