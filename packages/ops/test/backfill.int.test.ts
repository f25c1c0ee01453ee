import {
  createDb,
  customers,
  invoices,
  prices,
  products,
  subscriptions,
  syncCursors,
} from '@billing/db';
import { type FakeStripe, startFakeStripe } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type BackfillOptions, runBackfill } from '../src/backfill/backfill.js';

const services = await useTestServices('ops-backfill');
const handle = createDb({ url: services.databaseUrl, max: 4 });
const fake: FakeStripe = await startFakeStripe();
afterAll(async () => {
  await fake.close();
  await handle.close();
});

const deps = { db: handle.db, sql: handle.sql, stripe: fake.stripe };
// Retry-After 0 and millisecond back-off keep the test fast; the delays' shape is unit-tested.
const fast: BackfillOptions['backoff'] = { baseDelayMs: 1, maxDelayMs: 5 };

beforeEach(async () => {
  fake.reset();
  await handle.sql`truncate customers, products, prices, subscriptions, subscription_items, invoices, sync_cursors`;
});

const customerRows = () =>
  handle.db
    .select({ id: customers.id, email: customers.email, userId: customers.userId })
    .from(customers);

/** The customers as Stripe lists them (newest first). */
const stripeOrder = () => fake.state.sorted(fake.state.customers.values());

describe('backfill of customers', () => {
  it('pages through 1,000 customers, rides out a 429 in the middle and writes them all', {
    timeout: 120_000,
  }, async () => {
    fake.state.seedCustomers(1000, (i) => ({ userId: `user_${i}`, email: `c${i}@example.com` }));
    let injected = false;
    const report = await runBackfill(deps, {
      resources: ['customers'],
      backoff: fast,
      onProgress: ({ processed }) => {
        if (processed === 350 && !injected) {
          injected = true;
          fake.failNext(1, 429, { path: '/v1/customers', retryAfterSeconds: 0 });
        }
      },
    });

    expect(report.status).toBe('complete');
    const [res] = report.resources;
    expect(res).toMatchObject({
      resource: 'customers',
      status: 'complete',
      processed: 1000,
      applied: 1000,
    });
    // Every row was new: all of them are reported as drift ("missing" locally).
    expect(res?.drifted).toBe(1000);
    expect(res?.drift[0]?.fields).toBe('missing');

    const rows = await customerRows();
    expect(rows).toHaveLength(1000);
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const customer of fake.state.customers.values()) {
      expect(byId.get(customer.id)).toMatchObject({
        email: customer.email,
        userId: customer.metadata.user_id,
      });
    }

    // Ten pages of 100, one 429, and the listing resumed after the last customer written.
    const lists = fake.requestsTo('GET', '/v1/customers');
    const limited = lists.findIndex((request) => request.status === 429);
    expect(limited).toBeGreaterThan(0);
    expect(lists.filter((request) => request.status === 200)).toHaveLength(10);
    expect(lists[limited + 1]?.query.starting_after).toBe(lists[limited]?.query.starting_after);
    expect(lists[limited]?.query.starting_after).toBe(stripeOrder()[399]?.id);

    const [cursor] = await handle.db
      .select()
      .from(syncCursors)
      .where(eq(syncCursors.id, 'customers'));
    expect(cursor).toMatchObject({
      status: 'complete',
      processed: 1000,
      cursor: stripeOrder()[999]?.id,
    });
  });

  it('stops as incomplete when a 429 storm outlasts its retries, and a re-run resumes from the cursor to the same result', {
    timeout: 120_000,
  }, async () => {
    fake.state.seedCustomers(1000, (i) => ({ userId: `user_${i}`, email: `c${i}@example.com` }));
    const order = stripeOrder();
    let injected = false;
    const first = await runBackfill(deps, {
      resources: ['customers'],
      backoff: { ...fast, maxRetries: 3 },
      onProgress: ({ processed }) => {
        if (processed === 500 && !injected) {
          injected = true;
          // The first attempt and all three retries are refused.
          fake.failNext(4, 429, { path: '/v1/customers', retryAfterSeconds: 0 });
        }
      },
    });

    expect(first.status).toBe('incomplete');
    expect(first.resources[0]).toMatchObject({
      status: 'incomplete',
      processed: 500,
      cursor: order[499]?.id,
    });
    expect(first.resources[0]?.error).toMatch(/429/);
    const [stored] = await handle.db
      .select()
      .from(syncCursors)
      .where(eq(syncCursors.id, 'customers'));
    expect(stored).toMatchObject({ status: 'incomplete', cursor: order[499]?.id, processed: 500 });
    expect(await customerRows()).toHaveLength(500);

    const second = await runBackfill(deps, { resources: ['customers'], backoff: fast });
    expect(second.status).toBe('complete');
    expect(second.resources[0]).toMatchObject({
      status: 'complete',
      resumedFrom: order[499]?.id,
      processed: 500,
      totalProcessed: 1000,
    });
    // The re-run asked Stripe for the page after the cursor, not for the first page again.
    const lists = fake.requestsTo('GET', '/v1/customers').filter((r) => r.status === 200);
    expect(lists[5]?.query.starting_after).toBe(order[499]?.id);

    // Same result as an uninterrupted run: every Stripe customer, once, as Stripe has it.
    const rows = await customerRows();
    expect(rows.map((row) => row.id).sort()).toEqual(order.map((c) => c.id).sort());
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const customer of order) expect(byId.get(customer.id)?.email).toBe(customer.email);
  });
});

describe('reconciliation', () => {
  it('reports rows that differ from Stripe by id and field, and repairs them', async () => {
    const [a, b, c] = fake.state.seedCustomers(3, (i) => ({
      userId: `user_${i}`,
      email: `r${i}@example.com`,
    }));
    await runBackfill(deps, { resources: ['customers'] });
    // Someone edited a row by hand; another row was lost.
    await handle.db
      .update(customers)
      .set({ email: 'wrong@example.com', name: 'Wrong' })
      .where(eq(customers.id, a!.id));
    await handle.db.delete(customers).where(eq(customers.id, b!.id));

    const report = await runBackfill(deps, { resources: ['customers'] });
    const drift = report.resources[0]?.drift ?? [];
    expect(report.resources[0]?.drifted).toBe(2);
    expect(drift).toEqual(
      expect.arrayContaining([
        { id: a!.id, fields: ['email', 'name'] },
        { id: b!.id, fields: 'missing' },
      ]),
    );
    expect(drift.find((entry) => entry.id === c!.id)).toBeUndefined();
    const [repaired] = await handle.db.select().from(customers).where(eq(customers.id, a!.id));
    expect(repaired).toMatchObject({ email: 'r0@example.com', name: null });
  });

  it('never overwrites a row a newer webhook wrote after the object was read', async () => {
    const [customer] = fake.state.seedCustomers(1, () => ({
      userId: 'user_w',
      email: 'stripe@example.com',
    }));
    await runBackfill(deps, { resources: ['customers'] });
    // A webhook event created after any read this backfill can make.
    const future = new Date(Date.now() + 3600_000);
    await handle.db
      .update(customers)
      .set({
        email: 'webhook@example.com',
        lastEventId: 'evt_newer',
        lastEventCreated: future,
        lastEventRank: 11,
      })
      .where(eq(customers.id, customer!.id));

    const report = await runBackfill(deps, { resources: ['customers'] });
    expect(report.resources[0]).toMatchObject({ stale: 1, applied: 0, drifted: 0 });
    const [row] = await handle.db.select().from(customers).where(eq(customers.id, customer!.id));
    expect(row).toMatchObject({ email: 'webhook@example.com', lastEventId: 'evt_newer' });
  });

  it('backfills products, prices, subscriptions (any status) and invoices', async () => {
    const product = await fake.stripe.products.create({ name: 'Pro' });
    const price = await fake.stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 2000,
      recurring: { interval: 'month' },
      lookup_key: 'pro_monthly',
    });
    const customer = await fake.stripe.customers.create({
      email: 'sub@example.com',
      metadata: { user_id: 'user_s' },
    });
    const live = await fake.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
    });
    const gone = await fake.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
    });
    await fake.stripe.subscriptions.cancel(gone.id);

    const report = await runBackfill(deps, { backoff: fast });
    expect(report.status).toBe('complete');
    expect(report.resources.map((r) => r.resource)).toEqual([
      'products',
      'prices',
      'customers',
      'subscriptions',
      'invoices',
    ]);

    expect(await handle.db.select({ id: products.id }).from(products)).toEqual([
      { id: product.id },
    ]);
    expect(
      await handle.db.select({ id: prices.id, lookupKey: prices.lookupKey }).from(prices),
    ).toEqual([{ id: price.id, lookupKey: 'pro_monthly' }]);
    const subs = await handle.db
      .select({ id: subscriptions.id, status: subscriptions.status, userId: subscriptions.userId })
      .from(subscriptions)
      .orderBy(subscriptions.status);
    expect(subs).toEqual([
      { id: live.id, status: 'active', userId: 'user_s' },
      { id: gone.id, status: 'canceled', userId: 'user_s' },
    ]);
    const [{ count }] = (await handle.db
      .select({ count: sql<number>`count(*)::int` })
      .from(invoices)) as [{ count: number }];
    expect(count).toBe(fake.state.invoices.size);
    expect(count).toBeGreaterThan(0);
  });
});
