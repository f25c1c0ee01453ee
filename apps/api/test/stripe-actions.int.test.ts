import { createHash } from 'node:crypto';
import { globals } from '@billing/cache';
import { prices } from '@billing/db';
import { type FakeStripe, startFakeStripe } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  json,
  type SeededSubscription,
  seedFakeStripePlans,
  seedSubscription,
  startTestApi,
  type TestApi,
  uniqueUser,
} from './support.js';

const services = await useTestServices('api-stripe');

let t: TestApi;
let fake: FakeStripe;
/** The app's clock, frozen so "the current minute" in idempotency keys is known. */
const clock = Date.now();
const minute = Math.floor(clock / 60_000);
let priceByRef = new Map<string, string>();

type Body = Record<string, unknown>;

/** The documented derivation, recomputed independently of the app's code. */
const expectedKey = (action: string, parts: unknown[], client?: string) =>
  `billing-api:${action}:${createHash('sha256')
    .update(
      JSON.stringify([action, ...parts, ...(client ? ['client', client] : ['minute', minute])]),
    )
    .digest('hex')
    .slice(0, 40)}`;

/** A user with a customer and subscription in the fake Stripe account, mirrored into Postgres as the webhook worker would. */
async function subscribedUser(
  label: string,
  status: 'active' | 'trialing' | 'past_due' | 'canceled',
  ref = 'pro_monthly',
  options: { cancelAtPeriodEnd?: boolean } = {},
): Promise<{ userId: string } & SeededSubscription> {
  const userId = uniqueUser(label);
  const customer = fake.state.createCustomer({ userId });
  const subscription = fake.state.createSubscription({
    customer: customer.id,
    items: [{ price: priceByRef.get(ref)! }],
    cancelAtPeriodEnd: options.cancelAtPeriodEnd,
  });
  const seeded = await seedSubscription(t.db, {
    userId,
    status,
    priceId: priceByRef.get(ref)!,
    interval: ref.endsWith('yearly') ? 'year' : 'month',
    customerId: customer.id,
    subscriptionId: subscription.id,
    itemId: subscription.items.data[0]!.id,
    cancelAtPeriodEnd: options.cancelAtPeriodEnd,
  });
  return { userId, ...seeded };
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  t.call(path, { method: 'POST', json: body, headers });

beforeAll(async () => {
  fake = await startFakeStripe();
  t = await startTestApi(services, { stripe: fake.stripe, now: () => clock });
  priceByRef = await seedFakeStripePlans(fake, t);
});

afterAll(async () => {
  await t?.close();
  await fake?.close();
});

beforeEach(() => {
  fake.requests.length = 0;
});

const checkoutInput = (userId: string, planId = 'pro') => ({
  userId,
  planId,
  interval: 'month',
  successUrl: 'https://app.example.com/billing/done',
  cancelUrl: 'https://app.example.com/billing',
});

describe('POST /api/billing/create-checkout-session', () => {
  it('new user: creates a customer tagged with the user id, then the session; both with idempotency keys', async () => {
    const userId = uniqueUser('new');
    const { status, body } = await json<Body>(
      await post('/api/billing/create-checkout-session', checkoutInput(userId)),
    );
    expect(status).toBe(200);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/customers',
      'POST /v1/checkout/sessions',
    ]);
    const [customerCall, sessionCall] = fake.requests;
    expect(customerCall!.body).toEqual({ metadata: { user_id: userId } });
    expect(customerCall!.idempotencyKey).toBe(expectedKey('customer', [userId]));
    const customerId = body.customerId as string;
    expect(customerId).toMatch(/^cus_/);
    expect(sessionCall!.body).toEqual({
      mode: 'subscription',
      customer: customerId,
      client_reference_id: userId,
      line_items: [{ price: priceByRef.get('pro_monthly'), quantity: '1' }],
      success_url: 'https://app.example.com/billing/done',
      cancel_url: 'https://app.example.com/billing',
      metadata: { user_id: userId, plan_id: 'pro', interval: 'month' },
      subscription_data: { metadata: { user_id: userId, plan_id: 'pro' } },
    });
    expect(sessionCall!.idempotencyKey).toBe(
      expectedKey('checkout', [
        userId,
        customerId,
        priceByRef.get('pro_monthly'),
        'https://app.example.com/billing/done',
        'https://app.example.com/billing',
      ]),
    );
    expect(body.url).toMatch(/^https:\/\/checkout\.stripe\.com\//);
    expect(body.sessionId).toMatch(/^cs_/);
  });

  it('the same request again within the minute: same keys, Stripe replays, same session', async () => {
    const userId = uniqueUser('double_click');
    const first = await json<Body>(
      await post('/api/billing/create-checkout-session', checkoutInput(userId)),
    );
    const second = await json<Body>(
      await post('/api/billing/create-checkout-session', checkoutInput(userId)),
    );
    expect(second.body).toEqual(first.body);
    const keys = fake.requests.map((r) => r.idempotencyKey);
    expect(keys[2]).toBe(keys[0]);
    expect(keys[3]).toBe(keys[1]);
    expect(fake.requests.slice(2).every((r) => r.replayed)).toBe(true);
    expect(fake.state.customers.size).toBeGreaterThan(0);
  });

  it('a client Idempotency-Key header scopes the Stripe keys instead of the minute', async () => {
    const userId = uniqueUser('client_key');
    await post('/api/billing/create-checkout-session', checkoutInput(userId), {
      'idempotency-key': 'order-42',
    });
    expect(fake.requests[0]!.idempotencyKey).toBe(expectedKey('customer', [userId], 'order-42'));
    const parts = [
      userId,
      fake.requests[1]!.body.customer,
      priceByRef.get('pro_monthly'),
      'https://app.example.com/billing/done',
      'https://app.example.com/billing',
    ];
    expect(fake.requests[1]!.idempotencyKey).toBe(expectedKey('checkout', parts, 'order-42'));
    expect(fake.requests[1]!.idempotencyKey).not.toBe(expectedKey('checkout', parts));
  });

  it('canceled user: reuses the existing Stripe customer (one call: the session)', async () => {
    const user = await subscribedUser('returning', 'canceled');
    const { status, body } = await json<Body>(
      await post('/api/billing/create-checkout-session', checkoutInput(user.userId, 'business')),
    );
    expect(status).toBe(200);
    expect(body.customerId).toBe(user.customerId);
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/checkout/sessions']);
    expect(fake.requests[0]!.body).toMatchObject({
      customer: user.customerId,
      line_items: [{ price: priceByRef.get('business_monthly') }],
    });
  });

  for (const status of ['active', 'trialing', 'past_due'] as const) {
    it(`${status} user: 409 subscription_exists, nothing sent`, async () => {
      const user = await subscribedUser(`checkout_${status}`, status);
      const { status: code, body } = await json<{ error: { code: string } }>(
        await post('/api/billing/create-checkout-session', checkoutInput(user.userId, 'business')),
      );
      expect(code).toBe(409);
      expect(body.error.code).toBe('subscription_exists');
      expect(fake.requests).toHaveLength(0);
    });
  }

  it('Stripe refuses the session: 502 with Stripe’s code', async () => {
    fake.failNext(1, 400, { path: '/v1/checkout/sessions', code: 'parameter_invalid_empty' });
    const { status, body } = await json<{ error: { code: string; stripeCode: string } }>(
      await post('/api/billing/create-checkout-session', checkoutInput(uniqueUser('refused'))),
    );
    expect(status).toBe(502);
    expect(body.error).toMatchObject({
      code: 'stripe_error',
      stripeCode: 'parameter_invalid_empty',
    });
  });
});

describe('POST /api/billing/upgrade', () => {
  it('active user pro → business: only the item price and proration behaviour; 202 pending_webhook', async () => {
    const user = await subscribedUser('upgrade', 'active');
    const { status, body } = await json<Body>(
      await post('/api/billing/upgrade', {
        userId: user.userId,
        planId: 'business',
        interval: 'month',
      }),
    );
    expect(status).toBe(202);
    expect(body).toMatchObject({
      status: 'pending_webhook',
      subscriptionId: user.subscriptionId,
      planId: 'business',
      interval: 'month',
      priceId: priceByRef.get('business_monthly'),
    });
    expect(fake.requests).toHaveLength(1);
    const [call] = fake.requests;
    expect(`${call!.method} ${call!.path}`).toBe(`POST /v1/subscriptions/${user.subscriptionId}`);
    expect(call!.body).toEqual({
      items: [{ id: user.itemId, price: priceByRef.get('business_monthly') }],
      proration_behavior: 'create_prorations',
    });
    expect(call!.idempotencyKey).toMatch(/^billing-api:upgrade:[0-9a-f]{40}$/);
    // Stripe changed; the local copy waits for the webhook.
    const local = await json<{ subscription: { planId: string } }>(
      await t.call(`/api/billing/subscription?userId=${user.userId}`),
    );
    expect(local.body.subscription.planId).toBe('pro');
    expect(fake.state.subscriptions.get(user.subscriptionId)!.items.data[0]!.price.id).toBe(
      priceByRef.get('business_monthly'),
    );
  });

  it('trialing and past_due users can change plan too (monthly → yearly)', async () => {
    for (const status of ['trialing', 'past_due'] as const) {
      fake.requests.length = 0;
      const user = await subscribedUser(`upgrade_${status}`, status);
      const response = await post('/api/billing/upgrade', {
        userId: user.userId,
        planId: 'pro',
        interval: 'year',
      });
      expect(response.status).toBe(202);
      expect(fake.requests[0]!.body).toEqual({
        items: [{ id: user.itemId, price: priceByRef.get('pro_yearly') }],
        proration_behavior: 'create_prorations',
      });
    }
  });

  it('free user: 409 no_subscription, nothing sent', async () => {
    const response = await post('/api/billing/upgrade', {
      userId: uniqueUser('free'),
      planId: 'pro',
      interval: 'month',
    });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'no_subscription',
    );
    expect(fake.requests).toHaveLength(0);
  });

  it('canceled user: 409 no_subscription, nothing sent', async () => {
    const user = await subscribedUser('upgrade_canceled', 'canceled');
    const response = await post('/api/billing/upgrade', {
      userId: user.userId,
      planId: 'business',
      interval: 'month',
    });
    expect(response.status).toBe(409);
    expect(fake.requests).toHaveLength(0);
  });

  it('to the plan the user is already on: 409 already_on_plan, nothing sent', async () => {
    const user = await subscribedUser('same_plan', 'active');
    const response = await post('/api/billing/upgrade', {
      userId: user.userId,
      planId: 'pro',
      interval: 'month',
    });
    expect(response.status).toBe(409);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('POST /api/billing/cancel and /resume', () => {
  it('cancel: only cancel_at_period_end=true, keyed; 202 pending_webhook', async () => {
    const user = await subscribedUser('cancel', 'active');
    const { status, body } = await json<Body>(
      await post('/api/billing/cancel', { userId: user.userId }),
    );
    expect(status).toBe(202);
    expect(body).toMatchObject({ status: 'pending_webhook', subscriptionId: user.subscriptionId });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.path).toBe(`/v1/subscriptions/${user.subscriptionId}`);
    expect(fake.requests[0]!.body).toEqual({ cancel_at_period_end: 'true' });
    expect(fake.requests[0]!.idempotencyKey).toMatch(/^billing-api:cancel:[0-9a-f]{40}$/);
    expect(fake.state.subscriptions.get(user.subscriptionId)!.cancel_at_period_end).toBe(true);
  });

  it('resume a subscription set to cancel: only cancel_at_period_end=false', async () => {
    const user = await subscribedUser('resume', 'active', 'pro_monthly', {
      cancelAtPeriodEnd: true,
    });
    const response = await post('/api/billing/resume', { userId: user.userId });
    expect(response.status).toBe(202);
    expect(fake.requests.map((r) => r.body)).toEqual([{ cancel_at_period_end: 'false' }]);
    expect(fake.requests[0]!.idempotencyKey).toMatch(/^billing-api:resume:[0-9a-f]{40}$/);
  });

  it('cancel when already canceling: 200 unchanged, nothing sent', async () => {
    const user = await subscribedUser('recancel', 'trialing', 'pro_monthly', {
      cancelAtPeriodEnd: true,
    });
    const { status, body } = await json<Body>(
      await post('/api/billing/cancel', { userId: user.userId }),
    );
    expect(status).toBe(200);
    expect(body.status).toBe('unchanged');
    expect(fake.requests).toHaveLength(0);
  });

  it('free and canceled users: 409 no_subscription, nothing sent', async () => {
    const canceled = await subscribedUser('cancel_canceled', 'canceled');
    expect((await post('/api/billing/cancel', { userId: uniqueUser('free') })).status).toBe(409);
    expect((await post('/api/billing/resume', { userId: canceled.userId })).status).toBe(409);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('GET /api/billing/proration-preview', () => {
  it('asks Stripe for an invoice preview of the item change; the answer is cached 5 minutes', async () => {
    const user = await subscribedUser('preview', 'active');
    const path = `/api/billing/proration-preview?userId=${user.userId}&planId=business&interval=month`;
    const { status, body } = await json<Body>(await t.call(path));
    expect(status).toBe(200);
    expect(fake.requests).toHaveLength(1);
    const [call] = fake.requests;
    expect(`${call!.method} ${call!.path}`).toBe('POST /v1/invoices/create_preview');
    expect(call!.body).toEqual({
      customer: user.customerId,
      subscription: user.subscriptionId,
      subscription_details: {
        items: [{ id: user.itemId, price: priceByRef.get('business_monthly') }],
        proration_behavior: 'create_prorations',
        // The preview fixes the date it prorates from (the app's clock) and returns it.
        proration_date: String(Math.floor(clock / 1000)),
      },
    });
    expect(call!.idempotencyKey).toMatch(/^billing-api:proration-preview:[0-9a-f]{40}$/);
    expect(body).toMatchObject({
      subscriptionId: user.subscriptionId,
      planId: 'business',
      interval: 'month',
      currency: 'usd',
    });
    const lines = body.lines as { amount: number; proration: boolean }[];
    const prorated = lines
      .filter((line) => line.proration)
      .reduce((sum, line) => sum + line.amount, 0);
    expect(body.amountDue).toBe(prorated);
    expect(typeof body.nextInvoiceAmountDue).toBe('number');
    // Cached: a second read sends nothing.
    expect((await json(await t.call(path))).body).toEqual(body);
    expect(fake.requests).toHaveLength(1);
  });

  it('free user: 409 no_subscription, nothing sent', async () => {
    const response = await t.call(
      `/api/billing/proration-preview?userId=${uniqueUser('free')}&planId=pro&interval=month`,
    );
    expect(response.status).toBe(409);
    expect(fake.requests).toHaveLength(0);
  });

  it('canceled user: 409, nothing sent', async () => {
    const user = await subscribedUser('preview_canceled', 'canceled');
    const response = await t.call(
      `/api/billing/proration-preview?userId=${user.userId}&planId=business&interval=month`,
    );
    expect(response.status).toBe(409);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('POST /api/billing/portal-session', () => {
  const returnUrl = 'https://app.example.com/billing?from=portal';

  it('past_due user: a portal session for their customer with the return URL, keyed', async () => {
    const user = await subscribedUser('portal', 'past_due');
    const { status, body } = await json<Body>(
      await post('/api/billing/portal-session', { userId: user.userId, returnUrl }),
    );
    expect(status).toBe(200);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/billing_portal/sessions',
    ]);
    const [call] = fake.requests;
    expect(call!.body).toEqual({ customer: user.customerId, return_url: returnUrl });
    expect(call!.idempotencyKey).toBe(
      expectedKey('portal-session', [user.userId, user.customerId, returnUrl]),
    );
    expect(body).toEqual({
      url: expect.stringMatching(/^https:\/\/billing\.stripe\.com\/p\/session\//),
      sessionId: expect.stringMatching(/^bps_/),
      customerId: user.customerId,
    });
  });

  it('a canceled user with a customer may open it too (invoices, card)', async () => {
    const user = await subscribedUser('portal_canceled', 'canceled');
    const response = await post('/api/billing/portal-session', { userId: user.userId, returnUrl });
    expect(response.status).toBe(200);
  });

  it('a user who never had a Stripe customer: 409 no_customer, nothing sent', async () => {
    const { status, body } = await json<{ error: { code: string } }>(
      await post('/api/billing/portal-session', { userId: uniqueUser('portal_free'), returnUrl }),
    );
    expect(status).toBe(409);
    expect(body.error.code).toBe('no_customer');
    expect(fake.requests).toHaveLength(0);
  });

  it('bad input: no return URL anywhere, a relative one, an unknown field: 400 naming it, nothing sent', async () => {
    const user = await subscribedUser('portal_bad', 'past_due');
    for (const [input, field] of [
      [{ userId: user.userId }, 'returnUrl'],
      [{ userId: user.userId, returnUrl: '/billing' }, 'returnUrl'],
      [{ userId: user.userId, returnUrl, flow: 'payment_method_update' }, 'flow'],
    ] as const) {
      const { status, body } = await json<{ error: { field: string } }>(
        await post('/api/billing/portal-session', input),
      );
      expect(status, JSON.stringify(input)).toBe(400);
      expect(body.error.field).toBe(field);
    }
    expect(fake.requests).toHaveLength(0);
  });

  it('with BILLING_PORTAL_RETURN_URL configured, a request without returnUrl uses it', async () => {
    const configured = 'https://app.example.com/account';
    const other = await startTestApi(services, {
      stripe: fake.stripe,
      now: () => clock,
      config: { billingPortalReturnUrl: configured },
    });
    try {
      const user = await subscribedUser('portal_configured', 'past_due');
      const response = await other.call('/api/billing/portal-session', {
        method: 'POST',
        json: { userId: user.userId },
      });
      expect(response.status).toBe(200);
      expect(fake.requests.at(-1)!.body).toEqual({
        customer: user.customerId,
        return_url: configured,
      });
    } finally {
      await other.close();
    }
  });
});

describe('price references resolved through Stripe', () => {
  it('lookup keys without local price rows: prices.list({ lookup_keys }) once, then cached', async () => {
    await t.db.delete(prices).where(inArray(prices.id, [...priceByRef.values()]));
    await t.cache.invalidateGlobals([globals.catalogue]);
    const { body } = await json<{ plans: { id: string; price: { id: string } | null }[] }>(
      await t.call('/api/billing/plans?interval=month'),
    );
    expect(body.plans.find((plan) => plan.id === 'business')?.price?.id).toBe(
      priceByRef.get('business_monthly'),
    );
    const lists = fake.requestsTo('GET', '/v1/prices');
    expect(lists).toHaveLength(1);
    expect((lists[0]!.query.lookup_keys as string[]).sort()).toEqual(
      ['business_monthly', 'business_yearly', 'pro_monthly', 'pro_yearly'].sort(),
    );
    expect(lists[0]!.query.active).toBe('true');
    await t.call('/api/billing/plans?interval=year');
    expect(fake.requestsTo('GET', '/v1/prices')).toHaveLength(1);
  });
});
