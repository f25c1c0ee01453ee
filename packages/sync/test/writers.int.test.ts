import { DEFAULT_PLANS_FILE, loadPlanList } from '@billing/config';
import { createDb, customers, invoices, prices, seedPlans } from '@billing/db';
import { moduleLogger } from '@billing/logger';
import { customerObject, invoiceObject } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  linkCustomerToUser,
  resolvePlanId,
  type SyncContext,
  syncCustomer,
  syncInvoice,
  type WriteSource,
} from '../src/index.js';

const services = await useTestServices('sync-writers');
const handle = createDb({ url: services.databaseUrl, max: 4 });
const logger = moduleLogger('sync-writers-test');
const T0 = 1_760_000_000;
let n = 0;
const source = (eventType: string, seconds: number): WriteSource => ({
  eventId: `evt_writers_${++n}`,
  eventType,
  created: new Date(seconds * 1000),
  account: null,
  livemode: false,
});
const inTx = <T>(fn: (ctx: SyncContext) => Promise<T>) =>
  handle.db.transaction((tx) => fn({ tx, logger }));

beforeAll(async () => {
  await seedPlans(handle.db, loadPlanList(DEFAULT_PLANS_FILE));
});
afterAll(async () => {
  await handle.close();
});

describe('resolvePlanId (the plan subquery of the subscription upsert)', () => {
  it('finds the plan by the payload lookup key, else by the synced price, else none', async () => {
    await handle.db.insert(prices).values({
      id: 'price_writers_biz_y',
      lookupKey: 'business_yearly',
      currency: 'usd',
      type: 'recurring',
      lastEventId: 'evt_seed',
      lastEventCreated: new Date(T0 * 1000),
      lastEventRank: 10,
    });
    expect(await resolvePlanId(handle.db, 'price_writers_x', 'pro_monthly')).toBe('pro');
    expect(await resolvePlanId(handle.db, 'price_writers_biz_y', null)).toBe('business');
    // The payload's key wins over the stored one.
    expect(await resolvePlanId(handle.db, 'price_writers_biz_y', 'pro_yearly')).toBe('pro');
    expect(await resolvePlanId(handle.db, 'price_writers_unknown', null)).toBeNull();
    expect(await resolvePlanId(handle.db, null, 'pro_monthly')).toBeNull();
  });
});

describe('user links', () => {
  it('a customer event that changes the link fills the rows still without a user, and keeps the others', async () => {
    const customer = customerObject({ userId: 'user_first', created: T0 });
    await inTx((ctx) => syncCustomer(ctx, customer, source('customer.created', T0)));
    const linked = invoiceObject({ customer: customer.id, created: T0 });
    await inTx((ctx) => syncInvoice(ctx, linked, source('invoice.finalized', T0)));
    // A row without a user (e.g. written before this code, or by hand).
    const orphan = invoiceObject({ customer: customer.id, created: T0 });
    await inTx((ctx) => syncInvoice(ctx, orphan, source('invoice.finalized', T0)));
    await handle.db.update(invoices).set({ userId: null }).where(eq(invoices.id, orphan.id));

    const moved = { ...customer, metadata: { user_id: 'user_second' } };
    const result = await inTx((ctx) =>
      syncCustomer(ctx, moved, source('customer.updated', T0 + 1)),
    );
    expect(result).toMatchObject({ outcome: 'applied', userIds: ['user_second'] });
    const userOf = async (id: string) =>
      (await handle.db.select().from(invoices).where(eq(invoices.id, id)))[0]?.userId;
    expect(await userOf(orphan.id)).toBe('user_second');
    expect(await userOf(linked.id)).toBe('user_first');
  });

  it('reports a conflicting link from the known current user without changing the customer', async () => {
    const customer = customerObject({ userId: 'user_owner', created: T0 });
    await inTx((ctx) => syncCustomer(ctx, customer, source('customer.created', T0)));
    const s = source('customer.subscription.created', T0 + 1);
    expect(
      await inTx((ctx) =>
        linkCustomerToUser(ctx, customer.id, 'user_other', s, { userId: 'user_owner' }),
      ),
    ).toBe('conflict');
    expect(await inTx((ctx) => linkCustomerToUser(ctx, customer.id, 'user_other', s))).toBe(
      'conflict',
    );
    expect(await inTx((ctx) => linkCustomerToUser(ctx, customer.id, 'user_owner', s))).toBe(
      'already-linked',
    );
    const [row] = await handle.db.select().from(customers).where(eq(customers.id, customer.id));
    expect(row?.userId).toBe('user_owner');
  });

  it('links a customer not synced yet through a placeholder row', async () => {
    const customerId = `cus_writers_${T0}`;
    const s = source('checkout.session.completed', T0);
    expect(await inTx((ctx) => linkCustomerToUser(ctx, customerId, 'user_new', s))).toBe('linked');
    const [row] = await handle.db.select().from(customers).where(eq(customers.id, customerId));
    expect(row).toMatchObject({ userId: 'user_new', lastEventRank: 0 });
  });
});
