import { apiKeys } from '@billing/db';
import { type FakeStripe, startFakeStripe } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import {
  json,
  OPS_TOKEN,
  SERVICE_TOKEN,
  seedPlanPrices,
  seedSubscription,
  startTestApi,
  type TestApi,
  uniqueUser,
  userKeyFor,
} from './support.js';

const services = await useTestServices('api-auth');

let t: TestApi;
let limited: TestApi;
let fake: FakeStripe;
const owner = uniqueUser('owner');
const other = uniqueUser('other');
let ownerKey: string;
let serviceKey: string;

type ErrorBody = { error: { code: string; message: string; field?: string } };

beforeAll(async () => {
  fake = await startFakeStripe();
  t = await startTestApi(services, { stripe: fake.stripe });
  const priceIds = await seedPlanPrices(t.db, t.planList);
  await seedSubscription(t.db, {
    userId: owner,
    status: 'active',
    priceId: priceIds.get('pro_monthly')!,
  });
  ownerKey = (await userKeyFor(t.db, owner)).key;
  serviceKey = (await createApiKey(t.db, { scope: 'service', name: 'backend' })).key;
  // A second app with tiny limits and a frozen clock (no window boundary mid-test).
  const frozen = Date.now();
  limited = await startTestApi(services, {
    now: () => frozen,
    config: { rateLimit: { windowMs: 60_000, user: 3, service: 1_000, ops: 5 } },
  });
});

afterAll(async () => {
  await limited?.close();
  await t?.close();
  await fake?.close();
});

beforeEach(() => {
  fake.requests.length = 0;
});

describe('authentication', () => {
  it('no Authorization header: 401 with WWW-Authenticate', async () => {
    const response = await t.call('/api/billing/plans', { token: null });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(((await response.json()) as ErrorBody).error.code).toBe('unauthorized');
  });

  it('a wrong token: 401', async () => {
    expect((await t.call('/api/billing/plans', { token: 'not-a-real-token' })).status).toBe(401);
  });

  it('a Basic (non-Bearer) Authorization header: 401', async () => {
    const response = await fetch(`${t.url}/api/billing/plans`, {
      headers: { authorization: `Basic ${Buffer.from(`x:${SERVICE_TOKEN}`).toString('base64')}` },
    });
    expect(response.status).toBe(401);
  });

  it('a revoked API key: 401', async () => {
    const key = await userKeyFor(t.db, uniqueUser('revoked'));
    await t.db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, key.id));
    expect((await t.call('/api/billing/subscription', { token: key.key })).status).toBe(401);
  });

  it('API keys are stored as SHA-256 hashes, never in plain text', async () => {
    const rows = await t.db.select().from(apiKeys);
    expect(rows.some((row) => row.keyHash === ownerKey)).toBe(false);
    expect(rows.every((row) => /^[0-9a-f]{64}$/.test(row.keyHash))).toBe(true);
  });

  it('a user key acts for its own user, with or without naming it', async () => {
    const implicit = await json<{ subscription: { status: string } }>(
      await t.call('/api/billing/subscription', { token: ownerKey }),
    );
    expect(implicit.status).toBe(200);
    expect(implicit.body.subscription.status).toBe('active');
    expect(
      (await t.call(`/api/billing/subscription?userId=${owner}`, { token: ownerKey })).status,
    ).toBe(200);
  });

  it('a user key naming another user: 403 (GET query and POST body)', async () => {
    const get = await t.call(`/api/billing/usage?userId=${other}`, { token: ownerKey });
    expect(get.status).toBe(403);
    const post = await t.call('/api/billing/cancel', {
      method: 'POST',
      token: ownerKey,
      json: { userId: other },
    });
    expect(post.status).toBe(403);
    expect(fake.requests).toHaveLength(0);
  });

  it('the service token without userId: 400 naming userId', async () => {
    const { status, body } = await json<ErrorBody>(await t.call('/api/billing/subscription'));
    expect(status).toBe(400);
    expect(body.error.field).toBe('userId');
  });

  it('a service-scope API key acts like the service token', async () => {
    const response = await t.call(`/api/billing/subscription?userId=${owner}`, {
      token: serviceKey,
    });
    expect(response.status).toBe(200);
  });

  it('the ops token: ops routes yes (200), billing routes no (403)', async () => {
    expect((await t.call('/api/ops/performance', { token: OPS_TOKEN })).status).toBe(200);
    expect((await t.call(`/api/billing/usage?userId=${owner}`, { token: OPS_TOKEN })).status).toBe(
      403,
    );
  });

  it('ops routes: service token 200, user key 403, nothing 401', async () => {
    expect((await t.call('/api/ops/performance')).status).toBe(200);
    expect((await t.call('/api/ops/performance', { token: ownerKey })).status).toBe(403);
    expect((await t.call('/api/ops/performance', { token: null })).status).toBe(401);
  });

  it('an unknown route: JSON 404', async () => {
    const { status, body } = await json<ErrorBody>(await t.call('/api/billing/nope'));
    expect(status).toBe(404);
    expect(body.error.code).toBe('not_found');
  });
});

describe('rate limiting per credential', () => {
  it('the 4th request of a key in a window of 3: 429 with Retry-After; other credentials unaffected', async () => {
    const key = (await userKeyFor(limited.db, uniqueUser('limited'))).key;
    for (let i = 0; i < 3; i++) {
      const ok = await limited.call('/api/billing/plans', { token: key });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('ratelimit-remaining')).toBe(String(2 - i));
    }
    const refused = await limited.call('/api/billing/plans', { token: key });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    expect(((await refused.json()) as ErrorBody).error.code).toBe('rate_limited');
    // Another key, and the service token, have windows of their own.
    const otherKey = (await userKeyFor(limited.db, uniqueUser('limited2'))).key;
    expect((await limited.call('/api/billing/plans', { token: otherKey })).status).toBe(200);
    expect((await limited.call('/api/billing/plans')).status).toBe(200);
  });

  it('the counter lives in Redis under the prefix', async () => {
    const keys = await limited.redis.keys(`${services.redisPrefix}:ratelimit:*`);
    expect(keys.length).toBeGreaterThan(0);
  });
});

describe('bad input: 400 naming the field, nothing sent to Stripe', () => {
  const checkout = {
    userId: owner,
    planId: 'pro',
    interval: 'month',
    successUrl: 'https://app.example.com/billing/success',
    cancelUrl: 'https://app.example.com/billing',
  };

  async function expectField(response: Response, field: string, code?: string) {
    const { status, body } = await json<ErrorBody>(response);
    expect(status).toBe(400);
    expect(body.error.field).toBe(field);
    if (code) expect(body.error.code).toBe(code);
    expect(fake.requests).toHaveLength(0);
  }

  const post = (path: string, body: unknown) => t.call(path, { method: 'POST', json: body });

  it('checkout with an unknown plan', async () => {
    await expectField(
      await post('/api/billing/create-checkout-session', { ...checkout, planId: 'platinum' }),
      'planId',
      'unknown_plan',
    );
  });

  it('checkout of the free plan', async () => {
    await expectField(
      await post('/api/billing/create-checkout-session', { ...checkout, planId: 'free' }),
      'planId',
      'free_plan',
    );
  });

  it('checkout with interval "week"', async () => {
    await expectField(
      await post('/api/billing/create-checkout-session', { ...checkout, interval: 'week' }),
      'interval',
    );
  });

  it('checkout without successUrl', async () => {
    const { successUrl: _omit, ...rest } = checkout;
    await expectField(await post('/api/billing/create-checkout-session', rest), 'successUrl');
  });

  it.each([
    ['successUrl', 'https://evil.example/phish'],
    ['cancelUrl', 'https://app.example.com.evil.example/'],
    ['successUrl', 'http://app.example.com/billing/success'],
  ])(
    'checkout with %s on an origin that is not listed (%s): 400, nothing sent to Stripe',
    async (field, url) => {
      await expectField(
        await post('/api/billing/create-checkout-session', { ...checkout, [field]: url }),
        field,
        'origin_not_allowed',
      );
    },
  );

  it('checkout with a javascript: successUrl', async () => {
    await expectField(
      await post('/api/billing/create-checkout-session', {
        ...checkout,
        successUrl: 'javascript:alert(1)',
      }),
      'successUrl',
    );
  });

  it('checkout with an unknown field "coupon"', async () => {
    await expectField(
      await post('/api/billing/create-checkout-session', { ...checkout, coupon: 'FREE100' }),
      'coupon',
      'unknown_field',
    );
  });

  it('checkout with planId as a number', async () => {
    await expectField(
      await post('/api/billing/create-checkout-session', { ...checkout, planId: 5 }),
      'planId',
    );
  });

  it('checkout with malformed JSON', async () => {
    const response = await t.call('/api/billing/create-checkout-session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"planId": "pro",',
    });
    await expectField(response, 'body', 'invalid_json');
  });

  it('checkout with a JSON array body', async () => {
    await expectField(await post('/api/billing/create-checkout-session', [checkout]), 'body');
  });

  it('checkout with a body over 100 kB', async () => {
    const response = await post('/api/billing/create-checkout-session', {
      ...checkout,
      padding: 'x'.repeat(110 * 1024),
    });
    // 413 (it was a 400 before: the hardening of body limits made every app answer 413).
    const { status, body } = await json<ErrorBody>(response);
    expect(status).toBe(413);
    expect(body.error).toMatchObject({
      code: 'payload_too_large',
      field: 'body',
      limitBytes: 102_400,
    });
    expect(fake.requests).toHaveLength(0);
  });

  it('checkout with a form-encoded body', async () => {
    const response = await t.call('/api/billing/create-checkout-session', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'planId=pro&interval=month',
    });
    await expectField(response, 'Content-Type', 'unsupported_media_type');
  });

  it('checkout with an Idempotency-Key containing spaces', async () => {
    const response = await t.call('/api/billing/create-checkout-session', {
      method: 'POST',
      json: checkout,
      headers: { 'idempotency-key': 'has spaces in it' },
    });
    await expectField(response, 'Idempotency-Key');
  });

  it('upgrade to an unknown plan', async () => {
    await expectField(
      await post('/api/billing/upgrade', { userId: owner, planId: 'gold', interval: 'month' }),
      'planId',
      'unknown_plan',
    );
  });

  it('upgrade with interval "daily"', async () => {
    await expectField(
      await post('/api/billing/upgrade', { userId: owner, planId: 'business', interval: 'daily' }),
      'interval',
    );
  });

  it('upgrade with an unknown field "prorationBehavior"', async () => {
    await expectField(
      await post('/api/billing/upgrade', {
        userId: owner,
        planId: 'business',
        interval: 'month',
        prorationBehavior: 'none',
      }),
      'prorationBehavior',
      'unknown_field',
    );
  });

  it('upgrade without planId', async () => {
    await expectField(
      await post('/api/billing/upgrade', { userId: owner, interval: 'month' }),
      'planId',
    );
  });

  it('cancel with an unknown field "immediately"', async () => {
    await expectField(
      await post('/api/billing/cancel', { userId: owner, immediately: true }),
      'immediately',
      'unknown_field',
    );
  });

  it('resume with malformed JSON', async () => {
    const response = await t.call('/api/billing/resume', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{userId:',
    });
    await expectField(response, 'body', 'invalid_json');
  });

  it('proration preview without planId', async () => {
    await expectField(
      await t.call(`/api/billing/proration-preview?userId=${owner}&interval=month`),
      'planId',
    );
  });

  it('proration preview with interval "quarter"', async () => {
    await expectField(
      await t.call(
        `/api/billing/proration-preview?userId=${owner}&planId=business&interval=quarter`,
      ),
      'interval',
    );
  });

  it('proration preview for an unknown plan', async () => {
    await expectField(
      await t.call(`/api/billing/proration-preview?userId=${owner}&planId=nope&interval=month`),
      'planId',
      'unknown_plan',
    );
  });

  it('usage of an unknown metric', async () => {
    await expectField(
      await t.call(`/api/billing/usage?userId=${owner}&metric=gpu_hours`),
      'metric',
      'unknown_metric',
    );
  });

  it('usage with a metric that is not snake_case', async () => {
    await expectField(
      await t.call(`/api/billing/usage?userId=${owner}&metric=Compute-Minutes`),
      'metric',
    );
  });

  it('subscription with an unknown query parameter "expand"', async () => {
    await expectField(
      await t.call(`/api/billing/subscription?userId=${owner}&expand=items`),
      'expand',
      'unknown_field',
    );
  });

  it('subscription with userId given twice', async () => {
    await expectField(
      await t.call(`/api/billing/subscription?userId=${owner}&userId=${other}`),
      'userId',
    );
  });

  it('subscription with a userId containing a space', async () => {
    await expectField(await t.call('/api/billing/subscription?userId=a%20b'), 'userId');
  });

  it('plans with interval "week"', async () => {
    await expectField(await t.call('/api/billing/plans?interval=week'), 'interval');
  });

  it('ops performance with window "2h"', async () => {
    await expectField(await t.call('/api/ops/performance?window=2h'), 'window');
  });
});
