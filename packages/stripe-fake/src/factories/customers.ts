import type { Stripe } from '@billing/stripe';
import { fixture } from '../fixtures.js';
import { nowSeconds, stripeId } from '../ids.js';
import { type DeepPartial, deepMerge, type Json, type Metadata, withUserId } from './base.js';

export interface CustomerOptions {
  id?: string;
  email?: string | null;
  name?: string | null;
  /** Sets metadata.user_id, the link from a Stripe customer to the app's user. */
  userId?: string;
  metadata?: Metadata;
  created?: number;
  livemode?: boolean;
  overrides?: DeepPartial<Stripe.Customer>;
}

export function customerObject(options: CustomerOptions = {}): Stripe.Customer {
  const customer = fixture<Json>('customer');
  const id = options.id ?? stripeId('cus');
  Object.assign(customer, {
    id,
    created: options.created ?? nowSeconds(),
    email: options.email === undefined ? `${id.toLowerCase()}@example.com` : options.email,
    name: options.name ?? null,
    metadata: withUserId(options.metadata, options.userId),
    discount: null,
    livemode: options.livemode ?? false,
    invoice_prefix: id.slice(4, 11).toUpperCase(),
  });
  return deepMerge(customer, options.overrides) as unknown as Stripe.Customer;
}
