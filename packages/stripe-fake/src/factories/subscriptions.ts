import type { Stripe } from '@billing/stripe';
import { fixture } from '../fixtures.js';
import { nowSeconds, stripeId } from '../ids.js';
import {
  type ApiShape,
  type DeepPartial,
  deepMerge,
  type Json,
  type Metadata,
  periodLength,
  withUserId,
} from './base.js';
import { type PriceOptions, planObject, priceObject } from './products.js';

/** A subscription as built here: Stripe's type plus the legacy top-level period fields. */
export type FixtureSubscription = Stripe.Subscription & {
  current_period_start?: number;
  current_period_end?: number;
};

export type FixtureSubscriptionItem = Stripe.SubscriptionItem;

export interface SubscriptionItemOptions {
  id?: string;
  subscription?: string;
  /** A price object, or options to build one. */
  price?: Stripe.Price | PriceOptions;
  quantity?: number;
  currentPeriodStart?: number;
  currentPeriodEnd?: number;
  metadata?: Metadata;
  created?: number;
  /** `legacy` leaves the period off the item (it goes on the subscription). Default `basil`. */
  apiShape?: ApiShape;
  overrides?: DeepPartial<Stripe.SubscriptionItem>;
}

const isPrice = (value: Stripe.Price | PriceOptions | undefined): value is Stripe.Price =>
  value !== undefined && (value as { object?: unknown }).object === 'price';

const resolvePrice = (value: Stripe.Price | PriceOptions | undefined): Stripe.Price =>
  isPrice(value) ? structuredClone(value) : priceObject(value ?? {});

export function subscriptionItemObject(
  options: SubscriptionItemOptions = {},
): Stripe.SubscriptionItem {
  const item = fixture<Json>('subscription_item');
  const price = resolvePrice(options.price);
  const start = options.currentPeriodStart ?? nowSeconds();
  const end =
    options.currentPeriodEnd ??
    start + periodLength(price.recurring?.interval, price.recurring?.interval_count);
  Object.assign(item, {
    id: options.id ?? stripeId('si'),
    subscription: options.subscription ?? stripeId('sub'),
    price,
    plan: planObject(price),
    quantity: options.quantity ?? 1,
    metadata: options.metadata ?? {},
    created: options.created ?? start,
    billing_thresholds: null,
    discounts: [],
    tax_rates: [],
  });
  if ((options.apiShape ?? 'basil') === 'basil') {
    item.current_period_start = start;
    item.current_period_end = end;
  } else {
    delete item.current_period_start;
    delete item.current_period_end;
  }
  return deepMerge(item, options.overrides) as unknown as Stripe.SubscriptionItem;
}

export interface SubscriptionOptions {
  id?: string;
  customer?: string;
  status?: Stripe.Subscription.Status;
  /** Shortcut for a single item with this price (object or options). */
  price?: Stripe.Price | PriceOptions;
  quantity?: number;
  /** Several items; each with a price (object or options), quantity, id, metadata. */
  items?: Array<Omit<SubscriptionItemOptions, 'subscription' | 'apiShape'>>;
  /** Default now. */
  currentPeriodStart?: number;
  /** Default start + one price interval (30 days for monthly). */
  currentPeriodEnd?: number;
  /** Sets metadata.user_id. */
  userId?: string;
  metadata?: Metadata;
  cancelAtPeriodEnd?: boolean;
  cancelAt?: number | null;
  canceledAt?: number | null;
  endedAt?: number | null;
  trialStart?: number | null;
  trialEnd?: number | null;
  latestInvoice?: string | null;
  schedule?: string | null;
  created?: number;
  livemode?: boolean;
  /** Default `basil`: periods on the items only. `legacy`: on the subscription only. */
  apiShape?: ApiShape;
  overrides?: DeepPartial<FixtureSubscription>;
}

export function subscriptionObject(options: SubscriptionOptions = {}): FixtureSubscription {
  const subscription = fixture<Json>('subscription');
  const id = options.id ?? stripeId('sub');
  const apiShape = options.apiShape ?? 'basil';
  const start = options.currentPeriodStart ?? nowSeconds();
  const itemSpecs = options.items ?? [{ price: options.price, quantity: options.quantity }];
  const items = itemSpecs.map((spec) =>
    subscriptionItemObject({
      ...spec,
      subscription: id,
      apiShape,
      currentPeriodStart: spec.currentPeriodStart ?? start,
      currentPeriodEnd: spec.currentPeriodEnd ?? options.currentPeriodEnd,
    }),
  );
  const first = items[0];
  const end =
    options.currentPeriodEnd ??
    start + periodLength(first?.price.recurring?.interval, first?.price.recurring?.interval_count);
  const created = options.created ?? start;
  const status = options.status ?? 'active';
  Object.assign(subscription, {
    id,
    customer: options.customer ?? stripeId('cus'),
    status,
    items: {
      object: 'list',
      data: items,
      has_more: false,
      url: `/v1/subscription_items?subscription=${id}`,
    },
    metadata: withUserId(options.metadata, options.userId),
    currency: first?.price.currency ?? 'usd',
    created,
    start_date: created,
    billing_cycle_anchor: start,
    billing_cycle_anchor_config: null,
    cancel_at_period_end: options.cancelAtPeriodEnd ?? false,
    cancel_at: options.cancelAt ?? null,
    canceled_at: options.canceledAt ?? (status === 'canceled' ? nowSeconds() : null),
    ended_at: options.endedAt ?? (status === 'canceled' ? nowSeconds() : null),
    trial_start: options.trialStart ?? null,
    trial_end: options.trialEnd ?? null,
    latest_invoice: options.latestInvoice ?? null,
    schedule: options.schedule ?? null,
    livemode: options.livemode ?? false,
    next_pending_invoice_item_invoice: null,
    pause_collection: null,
    pending_invoice_item_interval: null,
    pending_update: null,
    transfer_data: null,
    billing_thresholds: null,
    billing_schedules: [],
    discounts: [],
  });
  if (apiShape === 'legacy') {
    subscription.current_period_start = start;
    subscription.current_period_end = end;
  } else {
    delete subscription.current_period_start;
    delete subscription.current_period_end;
  }
  return deepMerge(subscription, options.overrides) as unknown as FixtureSubscription;
}
