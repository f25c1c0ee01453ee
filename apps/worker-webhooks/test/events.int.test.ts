import {
  customers,
  entitlements,
  invoicePayments,
  invoices,
  prices,
  products,
  subscriptionItems,
  subscriptionSchedules,
  subscriptions,
  webhookEvents,
} from '@billing/db';
import {
  checkoutSessionObject,
  customerObject,
  entitlementSummaryObject,
  invoiceObject,
  invoicePaymentObject,
  planObject,
  priceObject,
  productObject,
  stripeEvent,
  stripeId,
  subscriptionObject,
  subscriptionScheduleObject,
  thinEvent,
} from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import { UnrecoverableError } from 'bullmq';
import { eq } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStripeEvent } from '../src/process-event.js';
import { type Harness, harness, jobPayload } from './support.js';

const services = await useTestServices('wh-events');
let h: Harness;

beforeAll(async () => {
  h = await harness(services);
});
afterAll(async () => {
  await h.close();
});

const T0 = 1_760_000_000;
const apply = (event: { id: string; type: string }) =>
  processStripeEvent(h.deps, jobPayload(event));
const at = (seconds: number) => new Date(seconds * 1000);

/** The row with this id, from any of the synced tables that have an `id` column. */
async function row(table: PgTable & { id: PgColumn }, id: string) {
  const rows = await h.db.db.select().from(table).where(eq(table.id, id));
  return rows[0] as Record<string, unknown> | undefined;
}
const subscriptionRow = async (id: string) =>
  (await h.db.db.select().from(subscriptions).where(eq(subscriptions.id, id)))[0];
const customerRow = async (id: string) =>
  (await h.db.db.select().from(customers).where(eq(customers.id, id)))[0];
const invoiceRow = async (id: string) =>
  (await h.db.db.select().from(invoices).where(eq(invoices.id, id)))[0];
const eventRow = async (id: string) =>
  (await h.db.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, id)))[0];

describe('customer.*', () => {
  it('creates, updates and soft-deletes the customer, linking the user from metadata.user_id', async () => {
    const customer = customerObject({ userId: 'user_c1', email: 'a@example.com', created: T0 });
    const created = await apply(
      stripeEvent({ type: 'customer.created', object: customer, created: T0 }),
    );
    expect(created.status).toBe('processed');
    expect(created.invalidated).toEqual(['user_c1']);
    expect(await customerRow(customer.id)).toMatchObject({
      userId: 'user_c1',
      email: 'a@example.com',
      deleted: false,
      lastEventCreated: at(T0),
      lastEventRank: 10,
    });

    await apply(
      stripeEvent({
        type: 'customer.updated',
        object: { ...customer, email: 'b@example.com' },
        created: T0 + 5,
      }),
    );
    expect(await customerRow(customer.id)).toMatchObject({
      email: 'b@example.com',
      userId: 'user_c1',
    });

    const deleted = stripeEvent({
      type: 'customer.deleted',
      object: { ...customer, email: 'b@example.com' },
      created: T0 + 9,
    });
    await apply(deleted);
    expect(await customerRow(customer.id)).toMatchObject({
      deleted: true,
      lastEventId: deleted.id,
      userId: 'user_c1',
    });
  });

  it('keeps a user link learnt at checkout when a later customer.updated has no metadata.user_id', async () => {
    const customer = customerObject({ created: T0 });
    await apply(stripeEvent({ type: 'customer.created', object: customer, created: T0 }));
    await apply(
      stripeEvent({
        type: 'checkout.session.completed',
        object: checkoutSessionObject({
          customer: customer.id,
          clientReferenceId: 'user_keep',
          mode: 'subscription',
        }),
        created: T0 + 1,
      }),
    );
    await apply(
      stripeEvent({
        type: 'customer.updated',
        object: { ...customer, name: 'Renamed' },
        created: T0 + 2,
      }),
    );
    expect(await customerRow(customer.id)).toMatchObject({ name: 'Renamed', userId: 'user_keep' });
  });

  it('copies the user link a customer event brings onto the rows that arrived before it, and later rows get it too', async () => {
    // Subscription, invoice and entitlements first: the customer (and its user) is unknown.
    const customer = customerObject({ created: T0 });
    const sub = subscriptionObject({ customer: customer.id, created: T0 });
    const invoice = invoiceObject({ customer: customer.id, subscription: sub.id, created: T0 });
    await apply(stripeEvent({ type: 'customer.subscription.created', object: sub, created: T0 }));
    await apply(stripeEvent({ type: 'invoice.finalized', object: invoice, created: T0 }));
    await apply(
      stripeEvent({
        type: 'entitlements.active_entitlement_summary.updated',
        object: entitlementSummaryObject({ customer: customer.id, features: ['sso'] }),
        created: T0,
      }),
    );
    const entitlementUser = async () =>
      (await h.db.db.select().from(entitlements).where(eq(entitlements.customerId, customer.id)))[0]
        ?.userId;
    expect((await subscriptionRow(sub.id))?.userId).toBeNull();
    expect((await invoiceRow(invoice.id))?.userId).toBeNull();
    expect(await entitlementUser()).toBeNull();

    const linked = { ...customer, metadata: { user_id: 'user_late' } };
    const created = await apply(
      stripeEvent({ type: 'customer.created', object: linked, created: T0 + 1 }),
    );
    expect(created.invalidated).toEqual(['user_late']);
    expect((await subscriptionRow(sub.id))?.userId).toBe('user_late');
    expect((await invoiceRow(invoice.id))?.userId).toBe('user_late');
    expect(await entitlementUser()).toBe('user_late');

    // The same link again changes nothing; rows written after the link carry it themselves.
    const updated = await apply(
      stripeEvent({
        type: 'customer.updated',
        object: { ...linked, name: 'Again' },
        created: T0 + 2,
      }),
    );
    expect(updated.invalidated).toEqual(['user_late']);
    const later = invoiceObject({ customer: customer.id, created: T0 + 3 });
    await apply(stripeEvent({ type: 'invoice.finalized', object: later, created: T0 + 3 }));
    expect((await invoiceRow(later.id))?.userId).toBe('user_late');
  });
});

describe('customer.subscription.*', () => {
  it('lands a subscription with its plan, period, items and the customer user', async () => {
    const customer = customerObject({ userId: 'user_s1' });
    await apply(stripeEvent({ type: 'customer.created', object: customer, created: T0 }));
    const sub = subscriptionObject({
      customer: customer.id,
      price: { lookupKey: 'pro_monthly', interval: 'month' },
      currentPeriodStart: T0,
      currentPeriodEnd: T0 + 30 * 86_400,
      created: T0,
    });
    const outcome = await apply(
      stripeEvent({ type: 'customer.subscription.created', object: sub, created: T0 + 1 }),
    );
    expect(outcome.invalidated).toEqual(['user_s1']);
    expect(await subscriptionRow(sub.id)).toMatchObject({
      customerId: customer.id,
      userId: 'user_s1',
      status: 'active',
      planId: 'pro',
      priceId: sub.items.data[0]!.price.id,
      interval: 'month',
      currentPeriodStart: at(T0),
      currentPeriodEnd: at(T0 + 30 * 86_400),
    });
    const items = await h.db.db
      .select()
      .from(subscriptionItems)
      .where(eq(subscriptionItems.subscriptionId, sub.id));
    expect(items.map((item) => item.id)).toEqual([sub.items.data[0]!.id]);
  });

  it('gives the same periods for a legacy payload (periods on the subscription) and a basil one (on the items)', async () => {
    const options = {
      currentPeriodStart: T0 + 100,
      currentPeriodEnd: T0 + 100 + 365 * 86_400,
      price: { interval: 'year' as const },
    };
    const legacy = subscriptionObject({ ...options, apiShape: 'legacy' });
    const basil = subscriptionObject({ ...options, apiShape: 'basil' });
    expect(legacy.items.data[0]).not.toHaveProperty('current_period_start');
    expect(basil).not.toHaveProperty('current_period_start');
    await apply(
      stripeEvent({
        type: 'customer.subscription.created',
        object: legacy,
        apiVersion: '2024-06-20',
      }),
    );
    await apply(
      stripeEvent({
        type: 'customer.subscription.created',
        object: basil,
        apiVersion: '2025-03-31.basil',
      }),
    );
    const [a, b] = [await subscriptionRow(legacy.id), await subscriptionRow(basil.id)];
    expect(a?.currentPeriodStart).toEqual(at(T0 + 100));
    expect(a?.currentPeriodEnd).toEqual(at(T0 + 100 + 365 * 86_400));
    expect(b?.currentPeriodStart).toEqual(a?.currentPeriodStart);
    expect(b?.currentPeriodEnd).toEqual(a?.currentPeriodEnd);
    expect(a?.interval).toBe('year');
    expect(b?.interval).toBe('year');
  });

  it('applies every subscription event type in turn', async () => {
    const sub = subscriptionObject({ userId: 'user_s2', created: T0 });
    const steps: Array<[string, Record<string, unknown>]> = [
      ['customer.subscription.created', { status: 'trialing', trial_end: T0 + 14 * 86_400 }],
      ['customer.subscription.trial_will_end', { status: 'trialing', trial_end: T0 + 14 * 86_400 }],
      ['customer.subscription.updated', { status: 'active' }],
      [
        'customer.subscription.paused',
        { status: 'paused', pause_collection: { behavior: 'void', resumes_at: null } },
      ],
      ['customer.subscription.resumed', { status: 'active', pause_collection: null }],
      ['customer.subscription.pending_update_applied', { status: 'active', quantity: 3 }],
      ['customer.subscription.pending_update_expired', { status: 'past_due' }],
      ['customer.subscription.deleted', { status: 'canceled', ended_at: T0 + 90 }],
    ];
    let created = T0;
    for (const [type, patch] of steps) {
      created += 10;
      const object = { ...sub, ...patch };
      if (typeof patch.quantity === 'number') object.items.data[0]!.quantity = patch.quantity;
      const event = stripeEvent({ type, object, created });
      expect((await apply(event)).status).toBe('processed');
      const stored = await subscriptionRow(sub.id);
      expect(stored, type).toMatchObject({
        status: patch.status,
        lastEventId: event.id,
        userId: 'user_s2',
      });
      if (type === 'customer.subscription.paused')
        expect(stored?.pauseCollection).toMatchObject({ behavior: 'void' });
      if (type === 'customer.subscription.pending_update_applied') expect(stored?.quantity).toBe(3);
    }
    expect(await subscriptionRow(sub.id)).toMatchObject({
      status: 'canceled',
      endedAt: at(T0 + 90),
    });
  });

  it('keeps the newer state when an older customer.subscription.updated arrives after it', async () => {
    const sub = subscriptionObject({ created: T0 });
    const newer = stripeEvent({
      type: 'customer.subscription.updated',
      object: { ...sub, status: 'past_due' },
      created: T0 + 60,
    });
    const older = stripeEvent({
      type: 'customer.subscription.updated',
      object: { ...sub, status: 'active' },
      created: T0 + 30,
    });
    await apply(newer);
    const outcome = await apply(older);
    expect(outcome.status).toBe('processed');
    expect(outcome.result?.outcome).toBe('stale');
    expect(outcome.invalidated).toEqual([]);
    expect(await subscriptionRow(sub.id)).toMatchObject({
      status: 'past_due',
      lastEventId: newer.id,
    });
    expect(await eventRow(older.id)).toMatchObject({ status: 'processed', attempts: 1 });
  });

  it('ends a same-second pair that content cannot order in the same state whichever arrives last (no Stripe client)', async () => {
    // Was "last arrival wins"; now the same set of events ends in one state in every order.
    const sub = subscriptionObject({ created: T0 });
    const first = stripeEvent({
      type: 'customer.subscription.updated',
      object: { ...sub, cancel_at_period_end: false },
      created: T0 + 5,
    });
    const second = stripeEvent({
      type: 'customer.subscription.updated',
      object: { ...sub, cancel_at_period_end: true },
      created: T0 + 5,
    });
    const forget = async () => {
      await h.db.db.delete(subscriptions).where(eq(subscriptions.id, sub.id));
      await h.db.db.delete(webhookEvents).where(eq(webhookEvents.objectId, sub.id));
    };
    await apply(first);
    const later = await apply(second);
    // Neither event is lost: the second is recorded as a tie decided without content.
    expect(later.status).toBe('processed');
    expect(later.result?.tie).toBe('undecidable');
    const oneOrder = await subscriptionRow(sub.id);
    await forget();
    await apply(second);
    await apply(first);
    const otherOrder = await subscriptionRow(sub.id);
    expect(otherOrder).toMatchObject({
      cancelAtPeriodEnd: oneOrder?.cancelAtPeriodEnd,
      lastEventId: oneOrder?.lastEventId,
    });
  });

  it('decides a same-second pair from previous_attributes, in both orders, without Stripe', async () => {
    const sub = subscriptionObject({ created: T0 });
    // Stripe's order: cancel turned on (earlier), then the quantity changed (later).
    const earlier = stripeEvent({
      type: 'customer.subscription.updated',
      object: { ...sub, cancel_at_period_end: true },
      previousAttributes: { cancel_at_period_end: false },
      created: T0 + 6,
    });
    const laterObject = structuredClone({ ...sub, cancel_at_period_end: true });
    laterObject.items.data[0]!.quantity = 3;
    const later = stripeEvent({
      type: 'customer.subscription.updated',
      object: laterObject,
      previousAttributes: { items: structuredClone(sub.items) },
      created: T0 + 6,
    });
    await apply(later);
    expect((await apply(earlier)).result).toMatchObject({ outcome: 'stale', tie: 'content' });
    expect(await subscriptionRow(sub.id)).toMatchObject({
      quantity: 3,
      cancelAtPeriodEnd: true,
      lastEventId: later.id,
    });
  });

  it('breaks a same-second tie by state: a canceled subscription is not revived by an active event of that second', async () => {
    const sub = subscriptionObject({ created: T0 });
    const deleted = stripeEvent({
      type: 'customer.subscription.deleted',
      object: { ...sub, status: 'canceled' },
      created: T0 + 7,
    });
    const updated = stripeEvent({
      type: 'customer.subscription.updated',
      object: { ...sub, status: 'active' },
      created: T0 + 7,
    });
    await apply(deleted);
    expect((await apply(updated)).result?.outcome).toBe('stale');
    expect(await subscriptionRow(sub.id)).toMatchObject({
      status: 'canceled',
      lastEventId: deleted.id,
    });
    // And the other way round: the earlier-ranked one first, then the later one still wins.
    const sub2 = subscriptionObject({ created: T0 });
    await apply(
      stripeEvent({
        type: 'customer.subscription.created',
        object: { ...sub2, status: 'incomplete' },
        created: T0 + 3,
      }),
    );
    await apply(
      stripeEvent({
        type: 'customer.subscription.updated',
        object: { ...sub2, status: 'active' },
        created: T0 + 3,
      }),
    );
    expect((await subscriptionRow(sub2.id))?.status).toBe('active');
  });

  it('links the customer to the user named in the subscription metadata and back-fills its invoices', async () => {
    const customer = customerObject();
    const invoice = invoiceObject({ customer: customer.id, status: 'open' });
    await apply(stripeEvent({ type: 'invoice.created', object: invoice }));
    expect((await invoiceRow(invoice.id))?.userId).toBeNull();
    const sub = subscriptionObject({ customer: customer.id, userId: 'user_meta' });
    const outcome = await apply(
      stripeEvent({ type: 'customer.subscription.created', object: sub }),
    );
    expect(outcome.invalidated).toEqual(['user_meta']);
    expect((await customerRow(customer.id))?.userId).toBe('user_meta');
    expect((await invoiceRow(invoice.id))?.userId).toBe('user_meta');
    // The real customer.created arriving later keeps the link (its metadata has no user_id).
    await apply(stripeEvent({ type: 'customer.created', object: customer }));
    expect(await customerRow(customer.id)).toMatchObject({
      userId: 'user_meta',
      email: customer.email,
    });
  });
});

describe('invoice.*', () => {
  it('follows an invoice from draft to paid through every event, both paid events included', async () => {
    const customer = customerObject({ userId: 'user_i1' });
    await apply(stripeEvent({ type: 'customer.created', object: customer, created: T0 }));
    const subscription = stripeId('sub');
    const base = { customer: customer.id, subscription, amountDue: 5000, created: T0 };
    const steps: Array<[string, ReturnType<typeof invoiceObject>]> = [
      ['invoice.created', invoiceObject({ ...base, status: 'draft' })],
      ['invoice.finalized', invoiceObject({ ...base, status: 'open' })],
      ['invoice.payment_failed', invoiceObject({ ...base, status: 'open' })],
      ['invoice.paid', invoiceObject({ ...base, status: 'paid' })],
      ['invoice.payment_succeeded', invoiceObject({ ...base, status: 'paid' })],
    ];
    const id = steps[0]![1].id;
    let created = T0;
    for (const [type, object] of steps) {
      created += 10;
      const outcome = await apply(stripeEvent({ type, object: { ...object, id }, created }));
      expect(outcome.result?.outcome, type).toBe('applied');
      expect(outcome.invalidated).toEqual(['user_i1']);
      const stored = await invoiceRow(id);
      expect(stored?.status, type).toBe(object.status);
      if (type === 'invoice.payment_failed')
        expect(stored?.lastPaymentError).toBe('payment failed');
    }
    expect(await invoiceRow(id)).toMatchObject({
      status: 'paid',
      paid: true,
      amountPaid: 5000,
      amountRemaining: 0,
      subscriptionId: subscription,
      userId: 'user_i1',
      lastPaymentError: null,
    });
  });

  it('records voided and marked_uncollectible invoices', async () => {
    const voided = invoiceObject({ status: 'void' });
    const uncollectible = invoiceObject({ status: 'uncollectible' });
    await apply(stripeEvent({ type: 'invoice.voided', object: voided }));
    await apply(stripeEvent({ type: 'invoice.marked_uncollectible', object: uncollectible }));
    expect(await invoiceRow(voided.id)).toMatchObject({ status: 'void', paid: false });
    expect(await invoiceRow(uncollectible.id)).toMatchObject({
      status: 'uncollectible',
      paid: false,
    });
  });

  it('reads the subscription and paid flag of a legacy payload (invoice.subscription, paid: true) like a basil one', async () => {
    const subscription = stripeId('sub');
    const legacy = invoiceObject({
      subscription,
      status: 'paid',
      apiShape: 'legacy',
      overrides: { paid: true } as never,
    });
    const basil = invoiceObject({ subscription, status: 'paid', apiShape: 'basil' });
    expect(legacy).toHaveProperty('subscription', subscription);
    expect(basil).not.toHaveProperty('subscription');
    await apply(stripeEvent({ type: 'invoice.paid', object: legacy, apiVersion: '2024-06-20' }));
    await apply(stripeEvent({ type: 'invoice.paid', object: basil }));
    expect(await invoiceRow(legacy.id)).toMatchObject({ subscriptionId: subscription, paid: true });
    expect(await invoiceRow(basil.id)).toMatchObject({ subscriptionId: subscription, paid: true });
  });

  it('records invoice.upcoming (no id) as ignored and writes no invoice', async () => {
    const upcoming = invoiceObject({ status: 'draft' }) as unknown as Record<string, unknown>;
    delete upcoming.id;
    const event = stripeEvent({ type: 'invoice.upcoming', object: upcoming });
    const before = await h.db.db.$count(invoices);
    const outcome = await apply(event);
    expect(outcome.status).toBe('ignored');
    expect(await eventRow(event.id)).toMatchObject({
      status: 'ignored',
      objectId: null,
      attempts: 1,
    });
    expect(await h.db.db.$count(invoices)).toBe(before);
  });
});

describe('invoice_payment.*', () => {
  it('stores an invoice payment', async () => {
    const invoice = invoiceObject({ status: 'paid' });
    const payment = invoicePaymentObject({ invoice: invoice.id, amount: 2000, status: 'paid' });
    await apply(stripeEvent({ type: 'invoice_payment.paid', object: payment }));
    expect(await row(invoicePayments, payment.id)).toMatchObject({
      invoiceId: invoice.id,
      status: 'paid',
      amountPaid: 2000,
    });
  });
});

describe('checkout.session.completed', () => {
  it('links the customer to client_reference_id and back-fills its subscription and invoices', async () => {
    const customer = customerObject();
    const sub = subscriptionObject({ customer: customer.id });
    const invoice = invoiceObject({ customer: customer.id, subscription: sub.id });
    await apply(stripeEvent({ type: 'customer.created', object: customer }));
    await apply(stripeEvent({ type: 'customer.subscription.created', object: sub }));
    await apply(stripeEvent({ type: 'invoice.paid', object: invoice }));
    expect((await subscriptionRow(sub.id))?.userId).toBeNull();

    const session = checkoutSessionObject({
      customer: customer.id,
      subscription: sub.id,
      clientReferenceId: 'user_co1',
      mode: 'subscription',
    });
    const outcome = await apply(
      stripeEvent({ type: 'checkout.session.completed', object: session }),
    );
    expect(outcome.invalidated).toEqual(['user_co1']);
    expect((await customerRow(customer.id))?.userId).toBe('user_co1');
    expect((await subscriptionRow(sub.id))?.userId).toBe('user_co1');
    expect((await invoiceRow(invoice.id))?.userId).toBe('user_co1');
  });

  it('links through metadata.user_id before the customer itself has been synced', async () => {
    const customerId = stripeId('cus');
    const session = checkoutSessionObject({
      customer: customerId,
      metadata: { user_id: 'user_co2' },
      clientReferenceId: null,
    });
    await apply(stripeEvent({ type: 'checkout.session.completed', object: session }));
    const sub = subscriptionObject({ customer: customerId });
    await apply(stripeEvent({ type: 'customer.subscription.created', object: sub }));
    expect((await subscriptionRow(sub.id))?.userId).toBe('user_co2');
  });

  it('records a session without a customer (guest payment) as ignored', async () => {
    const session = checkoutSessionObject({
      customer: null,
      clientReferenceId: 'user_guest',
      mode: 'payment',
    });
    const event = stripeEvent({ type: 'checkout.session.completed', object: session });
    expect((await apply(event)).status).toBe('ignored');
    expect((await eventRow(event.id))?.status).toBe('ignored');
  });
});

describe('price.*, product.*, plan.*', () => {
  it('syncs products and prices, and a plan event keeps the price lookup key', async () => {
    const product = productObject({ name: 'Pro' });
    const price = priceObject({ product: product.id, lookupKey: 'pro_monthly', unitAmount: 1900 });
    await apply(stripeEvent({ type: 'product.created', object: product, created: T0 }));
    const priceCreated = await apply(
      stripeEvent({ type: 'price.created', object: price, created: T0 }),
    );
    expect(priceCreated.catalogueInvalidated).toBe(true);
    await apply(stripeEvent({ type: 'plan.created', object: planObject(price), created: T0 }));
    expect(await row(products, product.id)).toMatchObject({
      name: 'Pro',
      active: true,
      deleted: false,
    });
    expect(await row(prices, price.id)).toMatchObject({
      productId: product.id,
      unitAmount: 1900,
      recurringInterval: 'month',
      lookupKey: 'pro_monthly',
      type: 'recurring',
    });

    await apply(
      stripeEvent({
        type: 'price.updated',
        object: { ...price, nickname: 'Monthly' },
        created: T0 + 5,
      }),
    );
    await apply(
      stripeEvent({
        type: 'plan.updated',
        object: { ...planObject(price), nickname: 'Monthly' },
        created: T0 + 6,
      }),
    );
    expect(await row(prices, price.id)).toMatchObject({
      nickname: 'Monthly',
      lookupKey: 'pro_monthly',
    });

    await apply(stripeEvent({ type: 'plan.deleted', object: planObject(price), created: T0 + 8 }));
    await apply(
      stripeEvent({
        type: 'product.updated',
        object: { ...product, name: 'Pro 2' },
        created: T0 + 9,
      }),
    );
    await apply(stripeEvent({ type: 'product.deleted', object: product, created: T0 + 10 }));
    expect(await row(prices, price.id)).toMatchObject({ deleted: true, active: false });
    expect(await row(products, product.id)).toMatchObject({ deleted: true, active: false });
    await apply(stripeEvent({ type: 'price.deleted', object: price, created: T0 + 11 }));
    expect(await row(prices, price.id)).toMatchObject({ deleted: true, lookupKey: 'pro_monthly' });
  });
});

describe('subscription_schedule.*', () => {
  it('stores the schedule with its phases and follows its status', async () => {
    const schedule = subscriptionScheduleObject({
      status: 'not_started',
      phases: [{ price: 'price_next', quantity: 2, startDate: T0 + 100, endDate: null }],
    });
    await apply(
      stripeEvent({ type: 'subscription_schedule.created', object: schedule, created: T0 }),
    );
    expect(await row(subscriptionSchedules, schedule.id)).toMatchObject({
      status: 'not_started',
      customerId: schedule.customer,
      phases: [
        { startDate: T0 + 100, endDate: null, items: [{ priceId: 'price_next', quantity: 2 }] },
      ],
    });
    await apply(
      stripeEvent({
        type: 'subscription_schedule.released',
        object: { ...schedule, status: 'released' },
        created: T0 + 5,
      }),
    );
    expect((await row(subscriptionSchedules, schedule.id))?.status).toBe('released');
  });
});

describe('entitlements.active_entitlement_summary.updated', () => {
  it('stores the feature lookup keys for the customer and its user', async () => {
    const customer = customerObject({ userId: 'user_e1' });
    await apply(stripeEvent({ type: 'customer.created', object: customer }));
    const summary = entitlementSummaryObject({
      customer: customer.id,
      features: ['sso', 'api_access'],
    });
    const event = stripeEvent({
      type: 'entitlements.active_entitlement_summary.updated',
      object: summary,
    });
    const outcome = await apply(event);
    expect(outcome.invalidated).toEqual(['user_e1']);
    const [stored] = await h.db.db
      .select()
      .from(entitlements)
      .where(eq(entitlements.customerId, customer.id));
    expect(stored).toMatchObject({ userId: 'user_e1', features: ['api_access', 'sso'] });
    expect((await eventRow(event.id))?.objectId).toBe(customer.id);
  });
});

describe('exactly once and bookkeeping', () => {
  it('applies an event delivered three times once', async () => {
    const customer = customerObject({ userId: 'user_x3' });
    const event = stripeEvent({ type: 'customer.created', object: customer });
    const outcomes = [await apply(event), await apply(event), await apply(event)];
    expect(outcomes.map((o) => o.status)).toEqual(['processed', 'duplicate', 'duplicate']);
    expect(outcomes.map((o) => o.invalidated.length)).toEqual([1, 0, 0]);
    const rows = await h.db.db
      .select()
      .from(webhookEvents)
      .where(eq(webhookEvents.eventId, event.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      status: 'processed',
      attempts: 1,
      type: 'customer.created',
      objectId: customer.id,
    });
    expect(rows[0]?.processedAt).toBeInstanceOf(Date);
  });

  it('applies concurrent deliveries of one event once', async () => {
    const sub = subscriptionObject({ userId: 'user_conc' });
    const event = stripeEvent({ type: 'customer.subscription.created', object: sub });
    const outcomes = await Promise.all([apply(event), apply(event), apply(event)]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['duplicate', 'duplicate', 'processed']);
    expect((await eventRow(event.id))?.attempts).toBe(1);
  });

  it('records an unknown event type as ignored and acknowledges it', async () => {
    const event = stripeEvent({
      type: 'payout.paid',
      object: { id: stripeId('po'), object: 'payout' },
    });
    const outcome = await apply(event);
    expect(outcome.status).toBe('ignored');
    expect(await eventRow(event.id)).toMatchObject({
      status: 'ignored',
      type: 'payout.paid',
      attempts: 1,
      error: null,
    });
  });

  it('records a thin event with its related object id, as ignored', async () => {
    const related = stripeId('mtr');
    const event = thinEvent({
      type: 'v1.billing.meter.error_report_triggered',
      relatedObject: { id: related, type: 'billing.meter' },
    });
    const outcome = await apply(event);
    expect(outcome.status).toBe('ignored');
    expect(await eventRow(event.id)).toMatchObject({ status: 'ignored', objectId: related });
  });

  it('keeps the connected account of the event on the event and the synced rows', async () => {
    const account = stripeId('acct');
    const customer = customerObject();
    const event = stripeEvent({ type: 'customer.created', object: customer, account });
    await apply(event);
    expect((await eventRow(event.id))?.account).toBe(account);
    expect((await customerRow(customer.id))?.account).toBe(account);
  });

  it('fails permanently for a subscription event without a customer, with the reason on the row', async () => {
    const sub = subscriptionObject() as unknown as Record<string, unknown>;
    delete sub.customer;
    const event = stripeEvent({ type: 'customer.subscription.updated', object: sub });
    await expect(apply(event)).rejects.toBeInstanceOf(UnrecoverableError);
    const stored = await eventRow(event.id);
    expect(stored).toMatchObject({ status: 'failed', attempts: 1 });
    expect(stored?.error).toMatch(/customer/);
    expect(await subscriptionRow(sub.id as string)).toBeUndefined();
  });

  it('fails permanently for a body that is not JSON (tried: truncated JSON), keeping the raw text', async () => {
    const id = stripeId('evt');
    const payload = { ...jobPayload({ id, type: 'customer.updated' }), raw: '{"id": "evt_trunc' };
    await expect(processStripeEvent(h.deps, payload)).rejects.toBeInstanceOf(UnrecoverableError);
    const stored = await eventRow(id);
    expect(stored).toMatchObject({ status: 'failed', payload: '{"id": "evt_trunc' });
    expect(stored?.error).toMatch(/not valid JSON/);
  });
});
