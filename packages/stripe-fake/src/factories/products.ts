import type { Stripe } from '@billing/stripe';
import { fixture } from '../fixtures.js';
import { nowSeconds, stripeId } from '../ids.js';
import { type DeepPartial, deepMerge, type Json, type Metadata } from './base.js';

export interface ProductOptions {
  id?: string;
  name?: string;
  description?: string | null;
  defaultPrice?: string | null;
  active?: boolean;
  metadata?: Metadata;
  created?: number;
  overrides?: DeepPartial<Stripe.Product>;
}

export function productObject(options: ProductOptions = {}): Stripe.Product {
  const product = fixture<Json>('product');
  const created = options.created ?? nowSeconds();
  Object.assign(product, {
    id: options.id ?? stripeId('prod'),
    name: options.name ?? 'Pro',
    description: options.description === undefined ? null : options.description,
    default_price: options.defaultPrice ?? null,
    active: options.active ?? true,
    metadata: options.metadata ?? {},
    created,
    updated: created,
    package_dimensions: null,
    shippable: null,
    type: 'service',
  });
  return deepMerge(product, options.overrides) as unknown as Stripe.Product;
}

export interface PriceOptions {
  id?: string;
  product?: string;
  /** Minor units (cents). Default 2000. */
  unitAmount?: number;
  currency?: string;
  /** Recurring interval; `null` makes a one-time price. Default `month`. */
  interval?: 'day' | 'week' | 'month' | 'year' | null;
  intervalCount?: number;
  usageType?: 'licensed' | 'metered';
  lookupKey?: string | null;
  nickname?: string | null;
  active?: boolean;
  metadata?: Metadata;
  created?: number;
  overrides?: DeepPartial<Stripe.Price>;
}

export function priceObject(options: PriceOptions = {}): Stripe.Price {
  const price = fixture<Json>('price');
  const unitAmount = options.unitAmount ?? 2000;
  const interval = options.interval === undefined ? 'month' : options.interval;
  Object.assign(price, {
    id: options.id ?? stripeId('price'),
    product: options.product ?? stripeId('prod'),
    unit_amount: unitAmount,
    unit_amount_decimal: String(unitAmount),
    currency: options.currency ?? 'usd',
    type: interval ? 'recurring' : 'one_time',
    recurring: interval
      ? {
          interval,
          interval_count: options.intervalCount ?? 1,
          meter: null,
          usage_type: options.usageType ?? 'licensed',
          trial_period_days: null,
        }
      : null,
    lookup_key: options.lookupKey ?? null,
    nickname: options.nickname ?? null,
    active: options.active ?? true,
    metadata: options.metadata ?? {},
    created: options.created ?? nowSeconds(),
    transform_quantity: null,
    livemode: false,
  });
  return deepMerge(price, options.overrides) as unknown as Stripe.Price;
}

/** The legacy `plan` object Stripe still renders next to each price (same id as the price). */
export function planObject(
  price: Stripe.Price = priceObject(),
  overrides?: DeepPartial<Stripe.Plan>,
): Stripe.Plan {
  const plan = fixture<Json>('plan');
  Object.assign(plan, {
    id: price.id,
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal === null ? null : String(price.unit_amount_decimal),
    billing_scheme: price.billing_scheme,
    created: price.created,
    currency: price.currency,
    interval: price.recurring?.interval ?? 'month',
    interval_count: price.recurring?.interval_count ?? 1,
    livemode: price.livemode,
    metadata: structuredClone(price.metadata),
    meter: null,
    nickname: price.nickname,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: price.recurring?.usage_type ?? 'licensed',
  });
  return deepMerge(plan, overrides) as unknown as Stripe.Plan;
}
