import { fields, invalidateUsers, userKey } from '@billing/cache';
import { subscriptions } from '@billing/db';
import { closeRedis, createRedis } from '@billing/redis';
import { useTestServices } from '@billing/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DAY_MS,
  json,
  seedPlanPrices,
  seedSubscription,
  startTestApi,
  type TestApi,
  uniqueUser,
} from './support.js';

const services = await useTestServices('api-reads');

let t: TestApi;
let priceIds: Map<string, string>;
const worker = createRedis(services.redisUrl, { role: 'producer' });
const now = Date.now();

const users = {
  free: uniqueUser('free'),
  trialing: uniqueUser('trialing'),
  active: uniqueUser('active'),
  pastDue: uniqueUser('past_due'),
  canceled: uniqueUser('canceled'),
  unknownPrice: uniqueUser('unknown_price'),
};
const ids: Record<string, string> = {};

async function recordUsage(userId: string, quantity: number, key: string) {
  const response = await t.call('/api/usage', {
    method: 'POST',
    json: {
      userId,
      metric: 'compute_minutes',
      quantity,
      occurredAt: new Date().toISOString(),
      idempotencyKey: key,
    },
  });
  expect(response.status).toBe(200);
  expect(((await response.json()) as { accepted: number }).accepted).toBe(1);
}

const subscriptionQueries = () =>
  t.queries.filter((q) => q.includes('from subscriptions s')).length;

beforeAll(async () => {
  t = await startTestApi(services);
  priceIds = await seedPlanPrices(t.db, t.planList);
  const pro = priceIds.get('pro_monthly')!;
  ids.trialing = (
    await seedSubscription(t.db, {
      userId: users.trialing,
      status: 'trialing',
      priceId: pro,
      trialEnd: new Date(now + 7 * DAY_MS),
    })
  ).subscriptionId;
  // The active user also has an older and a newer canceled subscription: the live one wins.
  await seedSubscription(t.db, {
    userId: users.active,
    status: 'canceled',
    priceId: priceIds.get('business_monthly')!,
    createdAt: new Date(now - 90 * DAY_MS),
  });
  ids.active = (
    await seedSubscription(t.db, {
      userId: users.active,
      status: 'active',
      priceId: pro,
      createdAt: new Date(now - 20 * DAY_MS),
    })
  ).subscriptionId;
  await seedSubscription(t.db, {
    userId: users.active,
    status: 'canceled',
    priceId: priceIds.get('business_monthly')!,
    createdAt: new Date(now - 2 * DAY_MS),
  });
  ids.pastDue = (
    await seedSubscription(t.db, {
      userId: users.pastDue,
      status: 'past_due',
      priceId: priceIds.get('pro_yearly')!,
      interval: 'year',
      periodEnd: new Date(now + 300 * DAY_MS),
    })
  ).subscriptionId;
  ids.canceled = (
    await seedSubscription(t.db, { userId: users.canceled, status: 'canceled', priceId: pro })
  ).subscriptionId;
  ids.unknownPrice = (
    await seedSubscription(t.db, {
      userId: users.unknownPrice,
      status: 'active',
      priceId: 'price_not_in_catalogue',
    })
  ).subscriptionId;
  for (const [name, userId] of Object.entries(users)) await recordUsage(userId, 30, `seed-${name}`);
});

afterAll(async () => {
  await t.close();
  await closeRedis(worker);
});

const getSubscription = async (userId: string) =>
  json<{ subscription: Record<string, unknown> | null }>(
    await t.call(`/api/billing/subscription?userId=${userId}`),
  );
const getUsage = async (userId: string, metric?: string) =>
  json<Record<string, unknown>>(
    await t.call(`/api/billing/usage?userId=${userId}${metric ? `&metric=${metric}` : ''}`),
  );

describe('GET /api/billing/subscription by user state', () => {
  it('free user: { subscription: null }', async () => {
    expect(await getSubscription(users.free)).toEqual({
      status: 200,
      body: { subscription: null },
    });
  });

  it('trialing user: the trial, plan pro, ISO trialEnd', async () => {
    const { status, body } = await getSubscription(users.trialing);
    expect(status).toBe(200);
    expect(body.subscription).toMatchObject({
      id: ids.trialing,
      status: 'trialing',
      planId: 'pro',
      priceId: priceIds.get('pro_monthly'),
      interval: 'month',
      quantity: 1,
      cancelAtPeriodEnd: false,
    });
    expect(body.subscription?.trialEnd).toBe(
      new Date(body.subscription?.trialEnd as string).toISOString(),
    );
    expect(Object.keys(body.subscription ?? {}).sort()).toEqual(
      [
        'id',
        'status',
        'planId',
        'priceId',
        'interval',
        'quantity',
        'currentPeriodStart',
        'currentPeriodEnd',
        'cancelAtPeriodEnd',
        'trialEnd',
      ].sort(),
    );
  });

  it('active user with older and newer canceled subscriptions: the active one', async () => {
    const { body } = await getSubscription(users.active);
    expect(body.subscription).toMatchObject({ id: ids.active, status: 'active', planId: 'pro' });
  });

  it('past_due user: still the subscription (it grants access), yearly', async () => {
    const { body } = await getSubscription(users.pastDue);
    expect(body.subscription).toMatchObject({
      id: ids.pastDue,
      status: 'past_due',
      planId: 'pro',
      interval: 'year',
    });
  });

  it('canceled user: the canceled subscription when no live one exists', async () => {
    const { body } = await getSubscription(users.canceled);
    expect(body.subscription).toMatchObject({
      id: ids.canceled,
      status: 'canceled',
      planId: 'pro',
    });
  });

  it('a price outside the plan list: planId null', async () => {
    const { body } = await getSubscription(users.unknownPrice);
    expect(body.subscription).toMatchObject({ id: ids.unknownPrice, planId: null });
  });
});

describe('GET /api/billing/usage by user state', () => {
  const expectUsage = (
    body: Record<string, unknown>,
    plan: string,
    limit: number,
    source: string,
  ) => {
    expect(body).toMatchObject({
      currentPeriodMinutes: 30,
      planLimit: limit,
      planType: plan,
      canMakeRequest: true,
      remainingMinutes: limit - 30,
      metric: 'compute_minutes',
      used: 30,
      limit,
      remaining: limit - 30,
      periodSource: source,
    });
    expect(Date.parse(body.periodStart as string)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(body.periodEnd as string)).toBeGreaterThan(Date.now());
  };

  it('free user: free plan, 100 minutes, calendar-month period', async () => {
    const { status, body } = await getUsage(users.free);
    expect(status).toBe(200);
    expectUsage(body, 'free', 100, 'free');
  });

  it('trialing user: pro limits over the subscription period', async () => {
    expectUsage((await getUsage(users.trialing)).body, 'pro', 5000, 'subscription');
  });

  it('active user: pro limits', async () => {
    expectUsage((await getUsage(users.active)).body, 'pro', 5000, 'subscription');
  });

  it('past_due user: keeps pro limits', async () => {
    expectUsage((await getUsage(users.pastDue)).body, 'pro', 5000, 'subscription');
  });

  it('canceled user: back to free limits', async () => {
    expectUsage((await getUsage(users.canceled)).body, 'free', 100, 'free');
  });

  it('active on a price outside the plan list: free limits', async () => {
    expectUsage((await getUsage(users.unknownPrice)).body, 'free', 100, 'subscription');
  });

  it('?metric=api_requests: that metric against its limit', async () => {
    const { body } = await getUsage(users.active, 'api_requests');
    expect(body).toMatchObject({
      metric: 'api_requests',
      used: 0,
      planLimit: 1_000_000,
      planType: 'pro',
      canMakeRequest: true,
    });
  });

  it('over the limit: canMakeRequest false, remaining 0', async () => {
    const userId = uniqueUser('over');
    await recordUsage(userId, 120, 'over-1');
    const { body } = await getUsage(userId);
    expect(body).toMatchObject({
      currentPeriodMinutes: 120,
      planLimit: 100,
      canMakeRequest: false,
      remainingMinutes: 0,
    });
  });
});

describe('GET /api/billing/plans and /overview', () => {
  it('plans?interval=month: every plan with its monthly price resolved from lookup keys', async () => {
    const { status, body } = await json<{ plans: Record<string, unknown>[] }>(
      await t.call('/api/billing/plans?interval=month'),
    );
    expect(status).toBe(200);
    expect(body.plans.map((plan) => plan.id)).toEqual(['free', 'pro', 'business']);
    expect(body.plans[0]).toMatchObject({ id: 'free', isFree: true, price: null });
    expect(body.plans[1]).toMatchObject({
      id: 'pro',
      isFree: false,
      limits: { compute_minutes: 5000, api_requests: 1_000_000 },
      price: {
        id: priceIds.get('pro_monthly'),
        lookupKey: 'pro_monthly',
        currency: 'usd',
        unitAmount: 2000,
        interval: 'month',
      },
    });
  });

  it('plans?interval=year: yearly prices', async () => {
    const { body } = await json<{ plans: Record<string, { id: string } | null>[] }>(
      await t.call('/api/billing/plans?interval=year'),
    );
    expect(body.plans[2]?.price?.id).toBe(priceIds.get('business_yearly'));
  });

  it('overview (trialing user): plans, subscription and usage of every metric', async () => {
    const { status, body } = await json<Record<string, Record<string, unknown>>>(
      await t.call(`/api/billing/overview?userId=${users.trialing}`),
    );
    expect(status).toBe(200);
    expect((body.plans as unknown as unknown[]).length).toBe(3);
    expect(body.subscription).toMatchObject({ id: ids.trialing, status: 'trialing' });
    expect(body.usage).toMatchObject({ metric: 'compute_minutes', used: 30, planType: 'pro' });
    expect(Object.keys(body.usageByMetric ?? {}).sort()).toEqual([
      'api_requests',
      'compute_minutes',
    ]);
  });

  it('overview (free user): null subscription, free usage', async () => {
    const { body } = await json<Record<string, Record<string, unknown> | null>>(
      await t.call(`/api/billing/overview?userId=${users.free}`),
    );
    expect(body.subscription).toBeNull();
    expect(body.usage).toMatchObject({ planType: 'free', planLimit: 100 });
    expect(body.ended).toBeNull();
  });

  it('overview (live user): no ended plan', async () => {
    const { body } = await json<Record<string, unknown>>(
      await t.call(`/api/billing/overview?userId=${users.active}`),
    );
    expect(body.ended).toBeNull();
  });

  it('overview (cancelled user): the ended plan, when it ended and the usage of its last period', async () => {
    const userId = uniqueUser('ended');
    const periodStart = new Date(now - 3 * DAY_MS);
    const periodEnd = new Date(now + 27 * DAY_MS);
    const seeded = await seedSubscription(t.db, {
      userId,
      status: 'active',
      priceId: priceIds.get('business_monthly')!,
      periodStart,
      periodEnd,
    });
    // Used while the plan was live: booked in the subscription's period.
    await recordUsage(userId, 1250, 'ended-1');
    // The worker applies customer.subscription.deleted and invalidates the user.
    const endedAt = new Date(now - 60_000);
    await t.db
      .update(subscriptions)
      .set({ status: 'canceled', endedAt, canceledAt: endedAt, lastEventId: 'evt_deleted' })
      .where(eq(subscriptions.id, seeded.subscriptionId));
    await invalidateUsers(worker, services.redisPrefix, [userId], 'all');

    const { status, body } = await json<{
      usage: Record<string, unknown>;
      ended: Record<string, unknown> | null;
    }>(await t.call(`/api/billing/overview?userId=${userId}`));
    expect(status).toBe(200);
    // The limits are the free plan's now, in a new (free) period...
    expect(body.usage).toMatchObject({ planType: 'free', used: 0, periodSource: 'free' });
    // ...and what ended is said, with the 1,250 minutes used under it.
    expect(body.ended).toEqual({
      subscriptionId: seeded.subscriptionId,
      planId: 'business',
      planName: 'Business',
      interval: 'month',
      endedAt: endedAt.toISOString(),
      periodStart: periodStart.toISOString(),
      periodEnd: periodEnd.toISOString(),
      usage: {
        compute_minutes: { used: 1250, limit: 50000 },
        api_requests: { used: 0, limit: 10_000_000 },
      },
    });
  });
});

describe('caching', () => {
  it('second read is a cache hit: one subscription query, value in Redis', async () => {
    const userId = uniqueUser('hit');
    await seedSubscription(t.db, {
      userId,
      status: 'active',
      priceId: priceIds.get('pro_monthly')!,
    });
    const before = subscriptionQueries();
    const first = await getSubscription(userId);
    const second = await getSubscription(userId);
    expect(second).toEqual(first);
    expect(subscriptionQueries() - before).toBe(1);
    const raw = await worker.hget(userKey(services.redisPrefix, userId), fields.subscription);
    expect(JSON.parse(raw!).v).toMatchObject({ status: 'active' });
  });

  it('an empty answer (free user) is cached too', async () => {
    const userId = uniqueUser('free_cached');
    const before = subscriptionQueries();
    await getSubscription(userId);
    await getSubscription(userId);
    expect(subscriptionQueries() - before).toBe(1);
    const raw = await worker.hget(userKey(services.redisPrefix, userId), fields.subscription);
    expect(JSON.parse(raw!).v).toBeNull();
  });

  it('50 concurrent misses for one user make one subscription query', async () => {
    const userId = uniqueUser('flight');
    await seedSubscription(t.db, {
      userId,
      status: 'active',
      priceId: priceIds.get('pro_monthly')!,
    });
    const before = subscriptionQueries();
    const answers = await Promise.all(Array.from({ length: 50 }, () => getSubscription(userId)));
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]?.body.subscription).toMatchObject({ status: 'active' });
    expect(subscriptionQueries() - before).toBe(1);
  });

  it('a plan change written by the webhook worker is visible on the next read after invalidateUsers', async () => {
    const userId = uniqueUser('webhook');
    const seeded = await seedSubscription(t.db, {
      userId,
      status: 'active',
      priceId: priceIds.get('pro_monthly')!,
    });
    expect((await getSubscription(userId)).body.subscription).toMatchObject({ planId: 'pro' });
    // The worker commits the change...
    await t.db
      .update(subscriptions)
      .set({ priceId: priceIds.get('business_monthly')!, lastEventId: 'evt_newer' })
      .where(eq(subscriptions.id, seeded.subscriptionId));
    // ...the cache still answers the old state (proof that it is cached)...
    expect((await getSubscription(userId)).body.subscription).toMatchObject({ planId: 'pro' });
    // ...until the worker's delete + publish, on its own connection.
    await invalidateUsers(worker, services.redisPrefix, [userId], 'all');
    expect((await getSubscription(userId)).body.subscription).toMatchObject({ planId: 'business' });
    expect((await getUsage(userId)).body).toMatchObject({ planType: 'business', planLimit: 50000 });
  });

  it('a usage write invalidates that user’s usage: the next read has the new total', async () => {
    const userId = uniqueUser('usage_write');
    await recordUsage(userId, 10, 'u-1');
    expect((await getUsage(userId)).body).toMatchObject({ used: 10 });
    expect((await getUsage(userId)).body).toMatchObject({ used: 10 });
    await recordUsage(userId, 5, 'u-2');
    expect((await getUsage(userId)).body).toMatchObject({ used: 15, remainingMinutes: 85 });
  });

  it('counts hits and misses per tier in /metrics', async () => {
    const text = await (await fetch(`${t.internalUrl}/metrics`)).text();
    expect(text).toMatch(
      /billing_cache_lookups_total\{tier="l1",result="hit",entry="subscription"[^}]*\} [1-9]/,
    );
    expect(text).toMatch(
      /billing_cache_lookups_total\{tier="l2",result="miss",entry="subscription"[^}]*\} [1-9]/,
    );
  });
});
