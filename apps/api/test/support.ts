import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTieredCache, type TieredCache } from '@billing/cache';
import { DEFAULT_PLANS_FILE, INTERVALS, loadPlanList, type PlanList } from '@billing/config';
import {
  customers,
  type Database,
  prices,
  schema,
  seedPlans,
  subscriptionItems,
  subscriptions,
} from '@billing/db';
import { rootLogger } from '@billing/logger';
import { closeOpsQueues, createOpsQueues, opsCredentials } from '@billing/ops';
import { QUEUES } from '@billing/queue';
import { closeRedis, createRedis, type RedisClient, waitReady } from '@billing/redis';
import { closeServer, listen } from '@billing/runtime';
import type { Stripe } from '@billing/stripe';
import type { FakeStripe } from '@billing/stripe-fake';
import type { TestServices } from '@billing/testing';
import type { UsageConfig } from '@billing/usage';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { Registry } from 'prom-client';
import { type ApiApp, type ApiAppConfig, createApiApp } from '../src/app.js';
import { createApiKey } from '../src/auth/api-keys.js';

export const SERVICE_TOKEN = 'test-service-token-0123456789abcdef';
export const OPS_TOKEN = 'test-ops-token-0123456789abcdef';
export const DAY_MS = 86_400_000;

export const USAGE_CONFIG: UsageConfig = {
  freePeriod: 'calendar_month',
  freeEpoch: new Date('2024-01-01T00:00:00Z'),
  lateGraceMs: 48 * 3600_000,
  latePolicy: 'adjust',
  maxFutureSkewMs: 300_000,
};

export interface TestApi {
  api: ApiApp;
  url: string;
  /** The internal port: /metrics, /readyz with its reason. */
  internalUrl: string;
  db: Database;
  sql: postgres.Sql;
  redis: RedisClient;
  cache: TieredCache;
  registry: Registry;
  planList: PlanList;
  /** Every statement sent to Postgres by the app, in order. */
  queries: string[];
  /** A fetch against the app with a bearer token (default: the service token). */
  call(
    path: string,
    init?: RequestInit & { token?: string | null; json?: unknown },
  ): Promise<Response>;
  close(): Promise<void>;
}

export interface TestApiOptions {
  stripe?: Stripe;
  redisUrl?: string;
  config?: Partial<ApiAppConfig>;
  now?: () => number;
  l1Max?: number;
  /** Subscribe to API key revocations, as main.ts does. */
  revocations?: boolean;
  /** Human-facing routers (the billing page), as main.ts passes them. */
  pages?: (deps: { sql: postgres.Sql }) => import('express').Router[];
  /** The plan list to seed and serve (default the repository's plans file). */
  planList?: PlanList;
}

/** The API on a free port against the file's own database and Redis prefix. */
export async function startTestApi(
  services: TestServices,
  options: TestApiOptions = {},
): Promise<TestApi> {
  const logger = rootLogger();
  const queries: string[] = [];
  const sql = postgres(services.databaseUrl, {
    max: 10,
    onnotice: () => {},
    debug: (_connection, query) => {
      queries.push(query);
    },
  });
  const db = drizzle(sql, { schema }) as unknown as Database;
  const planList = options.planList ?? loadPlanList(DEFAULT_PLANS_FILE);
  await seedPlans(db, planList);
  const redis = createRedis(options.redisUrl ?? services.redisUrl, { role: 'cache' });
  redis.on('error', () => {});
  await waitReady(redis);
  const registry = new Registry();
  const cache = createTieredCache({
    redis,
    prefix: services.redisPrefix,
    logger,
    registry,
    l1Max: options.l1Max,
  });
  await cache.start();
  // Queue handles for the ops surfaces, on a connection of their own as in main.ts.
  const queueConnection = createRedis(options.redisUrl ?? services.redisUrl, { role: 'worker' });
  queueConnection.on('error', () => {});
  const opsQueues = createOpsQueues({ connection: queueConnection, prefix: services.redisPrefix });
  const revocationSubscriber = options.revocations ? redis.duplicate() : undefined;
  revocationSubscriber?.on('error', () => {});
  const api = createApiApp({
    config: {
      serviceToken: SERVICE_TOKEN,
      opsToken: OPS_TOKEN,
      redisPrefix: services.redisPrefix,
      metricsFlushMs: 60_000,
      // The SaaS app's origin in every test's checkout URLs; loopback for the billing page.
      checkoutAllowedOrigins: ['https://app.example.com'],
      checkoutAllowLoopback: true,
      // Test files send many bad credentials from one address on purpose; the throttle has
      // its own test with a low limit.
      authFailures: { limit: 10_000, windowMs: 60_000 },
      ...options.config,
    },
    planList,
    db,
    sql,
    redis,
    cache,
    stripe: options.stripe,
    logger,
    registry,
    usageConfig: USAGE_CONFIG,
    now: options.now,
    pages: options.pages?.({ sql }),
    revocationSubscriber,
    ops: {
      queues: Object.values(opsQueues),
      stripeEventsQueue: opsQueues[QUEUES.stripeEvents],
      credentials: opsCredentials({
        serviceToken: SERVICE_TOKEN,
        opsToken: OPS_TOKEN,
        basicUser: 'ops',
        basicPassword: 'ops-basic-password-123',
      }),
    },
  });
  const server: Server = await listen(api.app, 0, '127.0.0.1');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const internalServer: Server = await listen(api.internal, 0, '127.0.0.1');
  const internalUrl = `http://127.0.0.1:${(internalServer.address() as AddressInfo).port}`;
  return {
    api,
    url,
    internalUrl,
    db,
    sql,
    redis,
    cache,
    registry,
    planList,
    queries,
    call: (path, init = {}) => {
      const { token = SERVICE_TOKEN, json, headers, ...rest } = init;
      const merged = new Headers(headers);
      if (token !== null) merged.set('authorization', `Bearer ${token}`);
      if (json !== undefined) merged.set('content-type', 'application/json');
      return fetch(`${url}${path}`, {
        ...rest,
        headers: merged,
        body: json !== undefined ? JSON.stringify(json) : rest.body,
      });
    },
    close: async () => {
      await closeServer(server, 1_000);
      await closeServer(internalServer, 1_000);
      await api.recorder.stop();
      await cache.close();
      await closeOpsQueues(opsQueues);
      await closeRedis(redis);
      await closeRedis(queueConnection);
      if (revocationSubscriber) await closeRedis(revocationSubscriber);
      await sql.end({ timeout: 5 });
    },
  };
}

export const uniqueUser = (label: string) => `user_${label}_${randomBytes(4).toString('hex')}`;
const randomId = (prefix: string) => `${prefix}_${randomBytes(10).toString('hex')}`;

/** Local `prices` rows for every plan-list price reference, as the webhook worker would sync them. */
export async function seedPlanPrices(
  db: Database,
  planList: PlanList,
  idFor: (ref: string, interval: 'month' | 'year') => string = () => randomId('price'),
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  const amounts: Record<string, number> = { month: 2000, year: 20000 };
  for (const plan of planList.plans) {
    for (const interval of INTERVALS) {
      const ref = plan.prices?.[interval];
      if (!ref) continue;
      const id = ref.startsWith('price_') ? ref : idFor(ref, interval);
      ids.set(ref, id);
      await db
        .insert(prices)
        .values({
          id,
          currency: 'usd',
          unitAmount: (plan.id === 'business' ? 10 : 1) * (amounts[interval] ?? 0),
          type: 'recurring',
          recurringInterval: interval,
          recurringIntervalCount: 1,
          lookupKey: ref.startsWith('price_') ? null : ref,
          lastEventId: randomId('evt'),
          lastEventCreated: new Date(),
        })
        .onConflictDoNothing();
    }
  }
  return ids;
}

/**
 * The pro and business plans in a fake Stripe account (a product each, monthly and yearly
 * prices under the plan list's lookup keys) and their local `prices` rows; returns the price
 * id of each lookup key.
 */
export async function seedFakeStripePlans(
  fake: FakeStripe,
  t: TestApi,
): Promise<Map<string, string>> {
  const priceByRef = new Map<string, string>();
  for (const [name, amount] of [
    ['pro', 2000],
    ['business', 20000],
  ] as const) {
    const product = fake.state.createProduct({ name });
    for (const interval of ['month', 'year'] as const) {
      const lookupKey = `${name}_${interval === 'month' ? 'monthly' : 'yearly'}`;
      const price = fake.state.createPrice({
        product: product.id,
        unitAmount: interval === 'month' ? amount : amount * 10,
        interval,
        lookupKey,
      });
      priceByRef.set(lookupKey, price.id);
    }
  }
  await seedPlanPrices(t.db, t.planList, (ref) => priceByRef.get(ref)!);
  return priceByRef;
}

export interface SeededSubscription {
  customerId: string;
  subscriptionId: string;
  itemId: string;
}

/** A customer, subscription and item row for `userId`, as the webhook worker writes them. */
export async function seedSubscription(
  db: Database,
  options: {
    userId: string;
    status: string;
    priceId: string;
    interval?: 'month' | 'year';
    customerId?: string;
    subscriptionId?: string;
    itemId?: string;
    createdAt?: Date;
    periodStart?: Date;
    periodEnd?: Date;
    trialEnd?: Date | null;
    cancelAtPeriodEnd?: boolean;
  },
): Promise<SeededSubscription> {
  const customerId = options.customerId ?? randomId('cus');
  const subscriptionId = options.subscriptionId ?? randomId('sub');
  const itemId = options.itemId ?? randomId('si');
  const now = Date.now();
  const periodStart = options.periodStart ?? new Date(now - 5 * DAY_MS);
  const periodEnd = options.periodEnd ?? new Date(periodStart.getTime() + 30 * DAY_MS);
  const sync = { lastEventId: randomId('evt'), lastEventCreated: new Date() };
  await db
    .insert(customers)
    .values({ id: customerId, userId: options.userId, ...sync })
    .onConflictDoNothing();
  await db.insert(subscriptions).values({
    id: subscriptionId,
    customerId,
    userId: options.userId,
    status: options.status,
    priceId: options.priceId,
    interval: options.interval ?? 'month',
    quantity: 1,
    currentPeriodStart: periodStart,
    currentPeriodEnd: periodEnd,
    cancelAtPeriodEnd: options.cancelAtPeriodEnd ?? false,
    trialEnd: options.trialEnd ?? null,
    endedAt: options.status === 'canceled' ? new Date(now - DAY_MS) : null,
    createdAt: options.createdAt ?? new Date(now - 10 * DAY_MS),
    ...sync,
  });
  await db.insert(subscriptionItems).values({
    id: itemId,
    subscriptionId,
    priceId: options.priceId,
    quantity: 1,
    currentPeriodStart: periodStart,
    currentPeriodEnd: periodEnd,
    ...sync,
  });
  return { customerId, subscriptionId, itemId };
}

export const userKeyFor = (db: Database, userId: string) =>
  createApiKey(db, { scope: 'user', userId, name: 'test' });

/** Reads a JSON body and the status together. */
export async function json<T = Record<string, unknown>>(
  response: Response,
): Promise<{ status: number; body: T }> {
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}
