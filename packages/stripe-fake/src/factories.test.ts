import { Stripe } from '@billing/stripe';
import { describe, expect, it } from 'vitest';
import {
  checkoutSessionObject,
  customerObject,
  entitlementSummaryObject,
  invoiceObject,
  invoicePaymentObject,
  planObject,
  priceObject,
  productObject,
  signedDelivery,
  stripeEvent,
  subscriptionItemObject,
  subscriptionObject,
  subscriptionScheduleObject,
  thinEvent,
} from './factories.js';
import { fixture } from './fixtures.js';
import { DAY_SECONDS, nowSeconds, stripeId } from './ids.js';

describe('stripe ids', () => {
  it('are unique and shaped like Stripe ids', () => {
    const ids = new Set(Array.from({ length: 5000 }, () => stripeId('cus')));
    expect(ids.size).toBe(5000);
    for (const id of ids) expect(id).toMatch(/^cus_[0-9A-Za-z]{14}$/);
    expect(stripeId('sub')).toMatch(/^sub_1[0-9A-Za-z]{23}$/);
    expect(stripeId('evt')).toMatch(/^evt_1[0-9A-Za-z]{23}$/);
  });
});

describe('customerObject', () => {
  it('keeps every fixture field and sets id, user link and creation time', () => {
    const customer = customerObject({ userId: 'user_42', email: 'a@example.com' });
    expect(Object.keys(customer).sort()).toEqual(Object.keys(fixture('customer')).sort());
    expect(customer.id).toMatch(/^cus_/);
    expect(customer.metadata).toEqual({ user_id: 'user_42' });
    expect(customer.email).toBe('a@example.com');
    expect(Math.abs(customer.created - nowSeconds())).toBeLessThan(5);
    expect(customerObject().id).not.toBe(customer.id);
  });

  it('deep-merges overrides without dropping sibling fields', () => {
    const customer = customerObject({ overrides: { invoice_settings: { footer: 'thanks' } } });
    expect(customer.invoice_settings.footer).toBe('thanks');
    expect(customer.invoice_settings.rendering_options).toEqual({
      amount_tax_display: null,
      template: null,
    });
  });
});

describe('prices and products', () => {
  it('builds a monthly recurring price by default and a one-time price on request', () => {
    const product = productObject({ name: 'Pro' });
    const monthly = priceObject({
      product: product.id,
      unitAmount: 1500,
      lookupKey: 'pro_monthly',
    });
    expect(monthly).toMatchObject({
      object: 'price',
      product: product.id,
      unit_amount: 1500,
      unit_amount_decimal: '1500',
      lookup_key: 'pro_monthly',
      type: 'recurring',
      recurring: { interval: 'month', interval_count: 1, usage_type: 'licensed' },
    });
    expect(priceObject({ interval: null })).toMatchObject({ type: 'one_time', recurring: null });
  });

  it('derives the legacy plan from the price', () => {
    const price = priceObject({ unitAmount: 9900, interval: 'year' });
    expect(planObject(price)).toMatchObject({
      object: 'plan',
      id: price.id,
      amount: 9900,
      interval: 'year',
      product: price.product,
    });
  });
});

describe('subscriptionObject', () => {
  it('basil shape: periods (now..now+30d) on items only, status active, item priced', () => {
    const price = priceObject({ unitAmount: 2000 });
    const sub = subscriptionObject({ customer: 'cus_A', price, userId: 'user_1' });
    const item = sub.items.data[0]!;
    expect(sub.status).toBe('active');
    expect(sub.customer).toBe('cus_A');
    expect(sub.metadata.user_id).toBe('user_1');
    expect(sub).not.toHaveProperty('current_period_start');
    expect(sub).not.toHaveProperty('current_period_end');
    expect(item.subscription).toBe(sub.id);
    expect(item.price.id).toBe(price.id);
    expect(item.plan.id).toBe(price.id);
    expect(item.current_period_end - item.current_period_start).toBe(30 * DAY_SECONDS);
    expect(sub.items.url).toBe(`/v1/subscription_items?subscription=${sub.id}`);
    expect(sub.cancel_at_period_end).toBe(false);
    expect(sub.canceled_at).toBeNull();
  });

  it('legacy shape: periods on the subscription and not on items', () => {
    const sub = subscriptionObject({
      apiShape: 'legacy',
      currentPeriodStart: 1_700_000_000,
      currentPeriodEnd: 1_702_592_000,
    });
    expect(sub.current_period_start).toBe(1_700_000_000);
    expect(sub.current_period_end).toBe(1_702_592_000);
    expect(sub.items.data[0]).not.toHaveProperty('current_period_start');
    expect(sub.items.data[0]).not.toHaveProperty('current_period_end');
  });

  it('builds several items with their own prices and quantities', () => {
    const sub = subscriptionObject({
      items: [{ price: { unitAmount: 1000 } }, { price: { unitAmount: 50 }, quantity: 3 }],
    });
    expect(sub.items.data.map((item) => [item.price.unit_amount, item.quantity])).toEqual([
      [1000, 1],
      [50, 3],
    ]);
  });

  it('a yearly price gets a one-year period', () => {
    const item = subscriptionItemObject({ price: { interval: 'year' }, currentPeriodStart: 0 });
    expect(item.current_period_end).toBe(365 * DAY_SECONDS);
  });
});

describe('invoices', () => {
  it('a paid subscription invoice links the subscription through parent (basil)', () => {
    const price = priceObject({ unitAmount: 2500 });
    const invoice = invoiceObject({ customer: 'cus_A', subscription: 'sub_A', price });
    expect(invoice).toMatchObject({
      object: 'invoice',
      status: 'paid',
      amount_due: 2500,
      amount_paid: 2500,
      amount_remaining: 0,
      billing_reason: 'subscription_cycle',
      parent: { type: 'subscription_details', subscription_details: { subscription: 'sub_A' } },
    });
    expect(invoice).not.toHaveProperty('subscription');
    expect(invoice.lines.data[0]).toMatchObject({
      amount: 2500,
      parent: { subscription_item_details: { subscription: 'sub_A' } },
      pricing: { price_details: { price: price.id } },
    });
    expect(invoice.status_transitions.paid_at).toBe(invoice.created);
  });

  it('an open invoice owes its full amount; legacy shape carries subscription at top level', () => {
    const invoice = invoiceObject({
      status: 'open',
      amountDue: 700,
      subscription: 'sub_B',
      apiShape: 'legacy',
    });
    expect(invoice).toMatchObject({ amount_due: 700, amount_paid: 0, amount_remaining: 700 });
    expect((invoice as unknown as { subscription: string }).subscription).toBe('sub_B');
  });

  it('an invoice payment records amount and invoice', () => {
    const payment = invoicePaymentObject({ invoice: 'in_X', amount: 900 });
    expect(payment).toMatchObject({
      object: 'invoice_payment',
      invoice: 'in_X',
      amount_paid: 900,
      status: 'paid',
    });
    expect(payment.id).toMatch(/^inpay_/);
  });
});

describe('checkout, schedules, entitlements', () => {
  it('an open subscription checkout session has a checkout url', () => {
    const session = checkoutSessionObject({ customer: 'cus_A', clientReferenceId: 'user_1' });
    expect(session).toMatchObject({
      object: 'checkout.session',
      mode: 'subscription',
      status: 'open',
    });
    expect(session.url).toBe(`https://checkout.stripe.com/c/pay/${session.id}`);
    expect(session.id).toMatch(/^cs_test_[0-9A-Za-z]{58}$/);
  });

  it('a schedule with phases reports the current phase', () => {
    const now = nowSeconds();
    const schedule = subscriptionScheduleObject({
      subscription: 'sub_A',
      phases: [
        { price: 'price_a', startDate: now - 10, endDate: now + 100 },
        { price: 'price_b', startDate: now + 100, endDate: null },
      ],
    });
    expect(schedule.status).toBe('active');
    expect(schedule.current_phase).toEqual({ start_date: now - 10, end_date: now + 100 });
    expect(schedule.phases.map((phase) => phase.items[0]!.price)).toEqual(['price_a', 'price_b']);
  });

  it('an entitlement summary lists the features by lookup key', () => {
    const summary = entitlementSummaryObject({
      customer: 'cus_A',
      features: ['api', { lookupKey: 'sso' }],
    });
    expect(summary.customer).toBe('cus_A');
    expect(summary.entitlements.data.map((entry) => entry.lookup_key)).toEqual(['api', 'sso']);
    expect(summary.entitlements.has_more).toBe(false);
  });
});

describe('events', () => {
  it('wraps an object as a snapshot event with previous attributes', () => {
    const sub = subscriptionObject({ status: 'past_due' });
    const event = stripeEvent({
      type: 'customer.subscription.updated',
      object: sub,
      created: 1_700_000_000,
      previousAttributes: { status: 'active' },
    });
    expect(event).toMatchObject({
      object: 'event',
      type: 'customer.subscription.updated',
      created: 1_700_000_000,
      data: {
        object: { id: sub.id, status: 'past_due' },
        previous_attributes: { status: 'active' },
      },
      livemode: false,
    });
    expect(event.id).toMatch(/^evt_1/);
    expect(event).not.toHaveProperty('account');
    expect(stripeEvent({ type: 'x.y', object: {}, account: 'acct_1' }).account).toBe('acct_1');
  });

  it('builds a thin v2 event pointing at its object', () => {
    const event = thinEvent({
      type: 'v1.billing.meter.error_report_triggered',
      relatedObject: { id: 'mtr_1', type: 'billing.meter' },
      created: 1_700_000_000,
    });
    expect(event).toMatchObject({
      object: 'v2.core.event',
      created: '2023-11-14T22:13:20.000Z',
      related_object: { id: 'mtr_1', type: 'billing.meter', url: '/v1/billing/meters/mtr_1' },
    });
  });

  it('a signed delivery verifies with the real stripe library', () => {
    const event = stripeEvent({ type: 'customer.created', object: customerObject() });
    const delivery = signedDelivery(event, 'whsec_factory');
    const verified = new Stripe('sk_test_x').webhooks.constructEvent(
      delivery.body,
      delivery.headers['stripe-signature']!,
      'whsec_factory',
    );
    expect(verified.id).toBe(event.id);
    expect(delivery.headers['content-type']).toMatch(/^application\/json/);
  });
});
