import { type ChildProcess, spawn } from 'node:child_process';
import { subscriptions } from '@billing/db';
import { freePort, portAnswers, useTestServices } from '@billing/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  json,
  seedPlanPrices,
  seedSubscription,
  startTestApi,
  type TestApi,
  uniqueUser,
} from './support.js';

/**
 * The API against a redis-server of this file's own, which the tests stop and start again:
 * answers stay correct (from Postgres) while it is down, and caching resumes when it is back.
 */
const services = await useTestServices('api-redis-down');

let port: number;
let redisServer: ChildProcess | undefined;

async function startRedis(): Promise<void> {
  redisServer = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  await vi.waitFor(
    async () => {
      if (!(await portAnswers('127.0.0.1', port))) throw new Error('redis-server not up yet');
    },
    { timeout: 60_000, interval: 50 },
  );
}

async function stopRedis(): Promise<void> {
  const proc = redisServer;
  if (!proc || proc.exitCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGKILL');
  await exited;
  redisServer = undefined;
}

let t: TestApi;
let priceIds: Map<string, string>;

beforeAll(async () => {
  port = await freePort();
  await startRedis();
  t = await startTestApi(services, { redisUrl: `redis://127.0.0.1:${port}` });
  priceIds = await seedPlanPrices(t.db, t.planList);
});

afterAll(async () => {
  await t?.close();
  await stopRedis();
});

const subscriptionOf = async (userId: string) =>
  await json<{ subscription: { planId: string } | null }>(
    await t.call(`/api/billing/subscription?userId=${userId}`),
  );

describe('Redis stopped', () => {
  it('still answers correctly from Postgres, rate limiting lets requests through, /readyz stays ready', async () => {
    const userId = uniqueUser('degraded');
    const seeded = await seedSubscription(t.db, {
      userId,
      status: 'active',
      priceId: priceIds.get('pro_monthly')!,
    });
    expect((await subscriptionOf(userId)).body.subscription).toMatchObject({ planId: 'pro' });
    expect(t.cache.l1Active).toBe(true);

    await stopRedis();
    await vi.waitFor(() => expect(t.cache.l1Active).toBe(false), { timeout: 60_000 });

    // A change committed while Redis is down (the worker could not invalidate): the next
    // read comes from Postgres, not from a stale copy.
    await t.db
      .update(subscriptions)
      .set({ priceId: priceIds.get('business_monthly')! })
      .where(eq(subscriptions.id, seeded.subscriptionId));
    const during = await subscriptionOf(userId);
    expect(during.status).toBe(200);
    expect(during.body.subscription).toMatchObject({ planId: 'business' });

    const usage = await json(await t.call(`/api/billing/usage?userId=${userId}`));
    expect(usage.status).toBe(200);
    expect(usage.body).toMatchObject({ planType: 'business', planLimit: 50000 });
    expect((await json(await t.call('/api/billing/plans'))).status).toBe(200);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);

    const metrics = await (await fetch(`${t.internalUrl}/metrics`)).text();
    expect(metrics).toMatch(/billing_cache_degraded_total\{op="read"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/api_rate_limit_degraded_total(\{[^}]*\})? [1-9]/);
  });

  it('when Redis is back, the subscriber reconnects, L1 is cleared and caching resumes', async () => {
    await startRedis();
    await vi.waitFor(() => expect(t.cache.l1Active).toBe(true), { timeout: 60_000, interval: 50 });
    const userId = uniqueUser('recovered');
    await seedSubscription(t.db, {
      userId,
      status: 'trialing',
      priceId: priceIds.get('pro_yearly')!,
    });
    const before = t.queries.filter((q) => q.includes('from subscriptions s')).length;
    await subscriptionOf(userId);
    await subscriptionOf(userId);
    expect(t.queries.filter((q) => q.includes('from subscriptions s')).length - before).toBe(1);
  });
});
