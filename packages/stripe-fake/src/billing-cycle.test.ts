import type { Stripe } from '@billing/stripe';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { DAY_SECONDS } from './ids.js';
import { type FakeStripe, startFakeStripe } from './server.js';
import { FakeStripeState, subscriptionPeriod } from './state.js';

// Renewals, declined cards and recovery, pending prorations, checkout's incomplete → active,
// and the state snapshot: what the simulator builds on. The real stripe client talks to it.
let clock = 1_800_000_000;
const state = new FakeStripeState({
  now: () => clock,
  checkoutUrl: (id) => `http://sim.test/checkout/${id}`,
});
const fake: FakeStripe = await startFakeStripe({ state });
const { stripe } = fake;
afterAll(() => fake.close());
beforeEach(() => {
  fake.reset();
  clock = 1_800_000_000;
});

const typesSince = (from: number) =>
  [...state.events.values()].slice(from).map((event) => event.type);

async function subscribed(userId = 'u1') {
  const product = await stripe.products.create({ name: 'Pro' });
  const monthly = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 3000,
    recurring: { interval: 'month' },
    lookup_key: 'pro_monthly',
  });
  const business = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 9000,
    recurring: { interval: 'month' },
  });
  const customer = await stripe.customers.create({ metadata: { user_id: userId } });
  const subscription = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: monthly.id }],
    metadata: { user_id: userId },
  });
  return { customer, monthly, business, subscription };
}

describe('renewals', () => {
  it('starts a later period even when renewed within the second the subscription began', async () => {
    const { subscription } = await subscribed();
    const first = subscriptionPeriod(state.getSubscription(subscription.id)).start;
    // The clock has not moved: without the guard the "new" period would equal the old one
    // and nothing downstream could tell that a renewal happened.
    const { subscription: renewed } = state.renewSubscription(subscription.id);
    expect(subscriptionPeriod(renewed).start).toBeGreaterThan(first);
  });

  it('starts a new period, bills it and emits the events in Stripe order', async () => {
    const { subscription } = await subscribed();
    const first = subscriptionPeriod(state.getSubscription(subscription.id));
    const before = state.events.size;
    clock += 10 * DAY_SECONDS;
    const { subscription: renewed, invoice } = state.renewSubscription(subscription.id);
    expect(typesSince(before)).toEqual([
      'customer.subscription.updated',
      'invoice.created',
      'invoice.finalized',
      'invoice.paid',
      'invoice.payment_succeeded',
    ]);
    // The next period starts where the first ended (not at the renewal call's time) and runs
    // one calendar month: 2027-01-15 → 2027-02-15 → 2027-03-15 (08:00Z).
    expect(first).toEqual({ start: 1_800_000_000, end: 1_802_678_400 });
    expect(subscriptionPeriod(renewed)).toEqual({ start: first.end, end: 1_805_097_600 });
    expect(invoice).toMatchObject({
      status: 'paid',
      amount_paid: 3000,
      billing_reason: 'subscription_cycle',
    });
    expect(renewed.latest_invoice).toBe(invoice?.id);
    const updated = [...state.events.values()][before]!;
    expect(Object.keys(updated.data.previous_attributes ?? {})).toEqual(
      expect.arrayContaining(['items', 'latest_invoice']),
    );
  });

  it('moves every period forward by calendar months, the anchor day clamped to short months', async () => {
    // 2027-01-31T10:00:00Z: the anchor on the 31st bills on Feb 28, then on Mar 31 again.
    clock = Date.UTC(2027, 0, 31, 10) / 1000;
    const { subscription } = await subscribed();
    const iso = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);
    const periods = [subscriptionPeriod(state.getSubscription(subscription.id))];
    for (let renewal = 0; renewal < 3; renewal++) {
      const { subscription: renewed, invoice } = state.renewSubscription(subscription.id);
      periods.push(subscriptionPeriod(renewed));
      const item = renewed.items.data[0] as unknown as Record<string, number>;
      expect(item.current_period_start).toBe(periods.at(-1)!.start);
      const line = invoice!.lines.data[0]!;
      expect(line.period).toEqual(periods.at(-1));
    }
    expect(periods.map(({ start, end }) => `${iso(start)}→${iso(end)}`)).toEqual([
      '2027-01-31→2027-02-28',
      '2027-02-28→2027-03-31',
      '2027-03-31→2027-04-30',
      '2027-04-30→2027-05-31',
    ]);
  });

  it('leaves the invoice open and the subscription past_due when the card declines', async () => {
    const { customer, subscription } = await subscribed();
    state.setCardDeclines(customer.id, true);
    const before = state.events.size;
    const { subscription: renewed, invoice } = state.renewSubscription(subscription.id);
    expect(typesSince(before)).toEqual([
      'customer.subscription.updated',
      'invoice.created',
      'invoice.finalized',
      'invoice.payment_failed',
      'customer.subscription.updated',
    ]);
    expect(renewed.status).toBe('past_due');
    expect(invoice).toMatchObject({
      status: 'open',
      amount_paid: 0,
      amount_remaining: 3000,
      attempt_count: 1,
    });
    expect([...state.events.values()].at(-1)?.data.previous_attributes).toEqual({
      status: 'active',
    });
  });

  it('recovers when the open invoice is paid: invoice paid, subscription active again', async () => {
    const { customer, subscription } = await subscribed();
    const { invoice } = state.renewSubscription(subscription.id, { paymentFails: true });

    state.setCardDeclines(customer.id, true);
    const declined = await stripe.invoices.pay(invoice!.id).catch((error: unknown) => error);
    expect(declined).toMatchObject({
      statusCode: 402,
      type: 'StripeCardError',
      code: 'card_declined',
    });
    expect(state.getInvoice(invoice!.id).attempt_count).toBe(2);

    state.setCardDeclines(customer.id, false);
    const before = state.events.size;
    const paid = await stripe.invoices.pay(invoice!.id);
    expect(paid).toMatchObject({ status: 'paid', amount_paid: 3000, amount_remaining: 0 });
    expect(typesSince(before)).toEqual([
      'invoice.paid',
      'invoice.payment_succeeded',
      'customer.subscription.updated',
    ]);
    expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('active');
  });

  it('ends a subscription set to cancel at the period end instead of renewing it', async () => {
    const { subscription } = await subscribed();
    await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true });
    const before = state.events.size;
    const { subscription: ended, invoice } = state.renewSubscription(subscription.id);
    expect(invoice).toBeNull();
    expect(ended).toMatchObject({ status: 'canceled', ended_at: clock });
    expect(typesSince(before)).toEqual(['customer.subscription.deleted']);
    expect(() => state.renewSubscription(subscription.id)).toThrow(/has ended/);
  });

  it('bills create_prorations changes with the next invoice, and previews them before', async () => {
    const { subscription, business } = await subscribed();
    const period = subscriptionPeriod(state.getSubscription(subscription.id));
    clock += (period.end - period.start) / 2;
    const itemId = subscription.items.data[0]!.id;
    await stripe.subscriptions.update(subscription.id, {
      items: [{ id: itemId, price: business.id }],
      proration_behavior: 'create_prorations',
    });
    // Half the period left: credit 1500 for Pro, charge 4500 for Business.
    expect(state.pendingLines(subscription.id).map((line) => line.amount)).toEqual([-1500, 4500]);
    const preview = await stripe.invoices.createPreview({
      customer: String(subscription.customer),
      subscription: subscription.id,
    });
    expect(preview.lines.data.map((line) => line.amount)).toEqual([-1500, 4500, 9000]);

    const { invoice } = state.renewSubscription(subscription.id);
    expect(invoice?.lines.data.map((line) => line.amount)).toEqual([-1500, 4500, 9000]);
    expect(invoice?.amount_paid).toBe(12_000);
    expect(state.pendingLines(subscription.id)).toEqual([]);
  });
});

describe('checkout', () => {
  it('points the session at the configured hosted page and creates the subscription incomplete, then active', async () => {
    const { monthly } = await subscribed('someone-else');
    const customer = await stripe.customers.create({ metadata: { user_id: 'u2' } });
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: customer.id,
      line_items: [{ price: monthly.id, quantity: 1 }],
      success_url: 'http://app.test/billing?session={CHECKOUT_SESSION_ID}',
      subscription_data: { metadata: { user_id: 'u2' } },
    });
    expect(session.url).toBe(`http://sim.test/checkout/${session.id}`);
    // A declining saved card does not matter: the customer just entered one on the page.
    state.setCardDeclines(customer.id, true);
    const before = state.events.size;
    state.completeCheckoutSession(session.id);
    const events = [...state.events.values()].slice(before);
    expect(events.map((event) => event.type)).toEqual([
      'customer.subscription.created',
      'invoice.created',
      'invoice.finalized',
      'invoice.paid',
      'invoice.payment_succeeded',
      'customer.subscription.updated',
      'checkout.session.completed',
    ]);
    expect((events[0]!.data.object as unknown as Stripe.Subscription).status).toBe('incomplete');
    expect((events[5]!.data.object as unknown as Stripe.Subscription).status).toBe('active');
    expect(events[5]!.data.previous_attributes).toMatchObject({
      status: 'incomplete',
      latest_invoice: null,
    });
  });
});

describe('state snapshot', () => {
  it('restores everything toJSON wrote, without emitting events, and keeps list order', async () => {
    const { customer, subscription } = await subscribed();
    state.setCardDeclines(customer.id, true);
    state.recordMeterEvent({
      eventName: 'compute',
      payload: { value: '3', stripe_customer_id: customer.id },
      identifier: 'm1',
    });
    const restored = FakeStripeState.fromJSON(JSON.parse(JSON.stringify(state.toJSON())), {
      now: () => clock,
    });
    const emitted: string[] = [];
    restored.subscribe((event) => emitted.push(event.type));

    expect(restored.getSubscription(subscription.id)).toEqual(
      state.getSubscription(subscription.id),
    );
    expect(restored.sorted(restored.events.values()).map((event) => event.id)).toEqual(
      state.sorted(state.events.values()).map((event) => event.id),
    );
    expect(restored.cardDeclines(customer.id)).toBe(true);
    expect(restored.meterEvents.get('m1')?.payload.value).toBe('3');
    expect(emitted).toEqual([]);
    // New objects sort after the restored ones.
    const newer = restored.createCustomer({ userId: 'u9' });
    expect(restored.sorted(restored.customers.values())[0]?.id).toBe(newer.id);
    expect(emitted).toEqual(['customer.created']);
  });

  it('keeps only the newest events when asked to', async () => {
    await subscribed();
    const all = [...state.events.values()];
    expect(state.toJSON(3).events.map((event) => event.id)).toEqual(
      all.slice(-3).map((event) => event.id),
    );
  });
});

describe('event window', () => {
  it('keeps only the newest maxEvents events in memory, for a long-running simulator', () => {
    const small = new FakeStripeState({ maxEvents: 3 });
    const heard: string[] = [];
    small.subscribe((event) => heard.push(event.id));
    for (let index = 0; index < 5; index++) small.createCustomer({ userId: `u${index}` });
    expect(heard).toHaveLength(5);
    expect([...small.events.keys()]).toEqual(heard.slice(-3));
    expect(small.customers.size).toBe(5);
  });
});

describe('authentication', () => {
  it('accepts the key as the Basic user name, as curl -u sk_test_…: sends it', async () => {
    const response = await fetch(`${fake.url}/v1/customers`, {
      headers: { authorization: `Basic ${Buffer.from('sk_test_curl:').toString('base64')}` },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { object: string }).object).toBe('list');
  });
});
