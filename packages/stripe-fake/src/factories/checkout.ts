import type { Stripe } from '@billing/stripe';
import { fixture } from '../fixtures.js';
import { DAY_SECONDS, nowSeconds, stripeId } from '../ids.js';
import { type DeepPartial, deepMerge, type Json, type Metadata } from './base.js';

export interface CheckoutSessionOptions {
  id?: string;
  customer?: string | null;
  mode?: Stripe.Checkout.Session.Mode;
  status?: Stripe.Checkout.Session.Status;
  paymentStatus?: Stripe.Checkout.Session.PaymentStatus;
  subscription?: string | null;
  clientReferenceId?: string | null;
  metadata?: Metadata;
  successUrl?: string;
  cancelUrl?: string;
  amountTotal?: number | null;
  currency?: string | null;
  created?: number;
  overrides?: DeepPartial<Stripe.Checkout.Session>;
}

export function checkoutSessionObject(
  options: CheckoutSessionOptions = {},
): Stripe.Checkout.Session {
  const session = fixture<Json>('checkout.session');
  const id = options.id ?? stripeId('cs_test');
  const created = options.created ?? nowSeconds();
  const status = options.status ?? 'open';
  const mode = options.mode ?? 'subscription';
  Object.assign(session, {
    id,
    object: 'checkout.session',
    customer: options.customer ?? null,
    mode,
    status,
    payment_status: options.paymentStatus ?? (status === 'complete' ? 'paid' : 'unpaid'),
    subscription: options.subscription ?? null,
    payment_intent: null,
    client_reference_id: options.clientReferenceId ?? null,
    metadata: options.metadata ?? {},
    success_url: options.successUrl ?? 'https://example.com/success',
    cancel_url: options.cancelUrl ?? 'https://example.com/cancel',
    url: status === 'open' ? `https://checkout.stripe.com/c/pay/${id}` : null,
    amount_subtotal: options.amountTotal ?? null,
    amount_total: options.amountTotal ?? null,
    currency: options.currency ?? 'usd',
    created,
    expires_at: created + DAY_SECONDS,
    shipping_address_collection: null,
    shipping_cost: null,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    currency_conversion: null,
    collected_information: null,
    livemode: false,
  });
  return deepMerge(session, options.overrides) as unknown as Stripe.Checkout.Session;
}
