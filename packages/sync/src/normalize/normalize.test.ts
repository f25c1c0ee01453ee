import { invoiceObject, stripeId, subscriptionObject } from '@billing/stripe-fake';
import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { normalizeEntitlementSummary } from './entitlements.js';
import { parseStripeEvent } from './event.js';
import { normalizeInvoice } from './invoice.js';
import { normalizeSubscription } from './subscription.js';

describe('normalizeSubscription', () => {
  const start = 1_750_000_000;
  const end = start + 30 * 86_400;

  it('reads the period from the subscription in a legacy payload and from the first item in a basil one', () => {
    const legacy = normalizeSubscription(
      subscriptionObject({ apiShape: 'legacy', currentPeriodStart: start, currentPeriodEnd: end }),
    );
    const basil = normalizeSubscription(
      subscriptionObject({ apiShape: 'basil', currentPeriodStart: start, currentPeriodEnd: end }),
    );
    for (const s of [legacy, basil]) {
      expect(s.currentPeriodStart).toEqual(new Date(start * 1000));
      expect(s.currentPeriodEnd).toEqual(new Date(end * 1000));
      expect(s.items[0]?.currentPeriodEnd).toEqual(new Date(end * 1000));
    }
  });

  it('accepts an expanded customer and keeps unknown fields out of the way', () => {
    const sub = subscriptionObject();
    const customer = stripeId('cus');
    const s = normalizeSubscription({
      ...sub,
      customer: { id: customer, object: 'customer' },
      brand_new_field: { x: 1 },
    });
    expect(s.customerId).toBe(customer);
  });

  it('takes the user from metadata.user_id and the lookup key from the expanded price', () => {
    const s = normalizeSubscription(
      subscriptionObject({ userId: 'user_1', price: { lookupKey: 'pro_monthly' } }),
    );
    expect(s.userId).toBe('user_1');
    expect(s.priceLookupKey).toBe('pro_monthly');
  });

  it('rejects a subscription without a customer (tried: customer removed)', () => {
    const sub = subscriptionObject() as unknown as Record<string, unknown>;
    delete sub.customer;
    expect(() => normalizeSubscription(sub)).toThrow(ZodError);
  });
});

describe('normalizeInvoice', () => {
  it('finds the subscription before basil (invoice.subscription) and since (parent.subscription_details)', () => {
    const subscription = stripeId('sub');
    expect(
      normalizeInvoice(invoiceObject({ subscription, apiShape: 'legacy' })).subscriptionId,
    ).toBe(subscription);
    expect(
      normalizeInvoice(invoiceObject({ subscription, apiShape: 'basil' })).subscriptionId,
    ).toBe(subscription);
  });

  it('derives paid from status when the paid boolean is absent, and honours it when present', () => {
    const open = invoiceObject({ status: 'open' }) as unknown as Record<string, unknown>;
    expect(open).not.toHaveProperty('paid');
    expect(normalizeInvoice(open).paid).toBe(false);
    expect(normalizeInvoice(invoiceObject({ status: 'paid' })).paid).toBe(true);
    expect(normalizeInvoice({ ...open, paid: true }).paid).toBe(true);
  });

  it('sets a payment error only for invoice.payment_failed and clears it once paid', () => {
    expect(
      normalizeInvoice(invoiceObject({ status: 'open' }), { eventType: 'invoice.payment_failed' })
        .lastPaymentError,
    ).toBe('payment failed');
    expect(
      normalizeInvoice(invoiceObject({ status: 'open' }), { eventType: 'invoice.updated' })
        .lastPaymentError,
    ).toBeUndefined();
    expect(
      normalizeInvoice(invoiceObject({ status: 'paid' }), { eventType: 'invoice.paid' })
        .lastPaymentError,
    ).toBeNull();
  });
});

describe('normalizeEntitlementSummary', () => {
  it('collects unique, sorted lookup keys and notices a truncated list', () => {
    const s = normalizeEntitlementSummary({
      object: 'entitlements.active_entitlement_summary',
      customer: 'cus_1',
      entitlements: {
        data: [{ lookup_key: 'sso' }, { feature: { lookup_key: 'api' } }, { lookup_key: 'sso' }],
        has_more: true,
      },
    });
    expect(s).toMatchObject({ customerId: 'cus_1', features: ['api', 'sso'], complete: false });
  });
});

describe('parseStripeEvent', () => {
  it('keeps the connected account and finds the object id', () => {
    const e = parseStripeEvent(
      JSON.stringify({
        id: 'evt_1',
        object: 'event',
        type: 'customer.updated',
        created: 1,
        account: 'acct_1',
        livemode: false,
        data: { object: { id: 'cus_1' } },
      }),
    );
    expect(e).toMatchObject({
      kind: 'snapshot',
      account: 'acct_1',
      objectId: 'cus_1',
      created: new Date(1000),
    });
  });

  it('parses a thin event with its related object', () => {
    const e = parseStripeEvent(
      JSON.stringify({
        id: 'evt_t',
        object: 'v2.core.event',
        type: 'v1.billing.meter.no_meter_found',
        created: '2025-01-01T00:00:00.000Z',
        context: 'acct_2',
        related_object: { id: 'mtr_1', type: 'billing.meter' },
      }),
    );
    expect(e).toMatchObject({
      kind: 'thin',
      account: 'acct_2',
      objectId: 'mtr_1',
      object: undefined,
    });
  });

  it('rejects a body that is not JSON (tried: plain text)', () => {
    expect(() => parseStripeEvent('not json')).toThrow(/not valid JSON/);
  });

  it('rejects JSON that is not an event (tried: a bare customer object)', () => {
    expect(() => parseStripeEvent(JSON.stringify({ id: 'cus_1', object: 'customer' }))).toThrow(
      ZodError,
    );
  });
});
