import { STRIPE_API_VERSION, type Stripe } from '@billing/stripe';
import { fixture } from './fixtures.js';
import { DAY_SECONDS, nowSeconds, stripeId } from './ids.js';
import { signStripePayload } from './sign.js';

/**
 * Builders for Stripe objects. Each one deep-copies the matching resource of Stripe's own
 * fixtures3.json (so payloads carry every real field, nested the real way), gives it fresh
 * ids, and sets the fields billing code depends on (status, customer, prices, periods,
 * metadata.user_id) deliberately: the fixture numbers are random filler.
 *
 * Every builder takes `overrides`, deep-merged last (objects merge, arrays and scalars
 * replace), for anything the named options do not cover.
 */

export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> | null }
    : T;

type Json = Record<string, unknown>;
type Metadata = Record<string, string>;

/**
 * `basil` (API 2025-03-31 and later): current_period_start/end live on each subscription item.
 * `legacy` (older pinned versions): they live on the subscription, and not on the items.
 */
export type ApiShape = 'basil' | 'legacy';

const isPlainObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Deep merge of `patch` into `target` (mutates target). `undefined` in the patch is ignored. */
export function deepMerge<T>(target: T, patch: unknown): T {
  if (!isPlainObject(patch) || !isPlainObject(target)) return target;
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const current = (target as Json)[key];
    if (isPlainObject(value) && isPlainObject(current)) deepMerge(current, value);
    else (target as Json)[key] = structuredClone(value);
  }
  return target;
}

const withUserId = (metadata: Metadata | undefined, userId: string | undefined): Metadata => ({
  ...(metadata ?? {}),
  ...(userId !== undefined ? { user_id: userId } : {}),
});

const periodLength = (interval: string | undefined, count = 1): number =>
  (interval === 'year' ? 365 : interval === 'week' ? 7 : interval === 'day' ? 1 : 30) *
  DAY_SECONDS *
  count;

// ---------------------------------------------------------------------------------------
// Customer

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

// ---------------------------------------------------------------------------------------
// Product, price, plan

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

// ---------------------------------------------------------------------------------------
// Subscription and items

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

// ---------------------------------------------------------------------------------------
// Invoice and invoice payment

export interface InvoiceOptions {
  id?: string;
  customer?: string;
  /** The subscription this invoice bills (parent.subscription_details; legacy: top-level too). */
  subscription?: string | null;
  status?: Stripe.Invoice.Status;
  /** Minor units. Default: the line amounts, or 2000. */
  amountDue?: number;
  amountPaid?: number;
  currency?: string;
  billingReason?: Stripe.Invoice.BillingReason;
  periodStart?: number;
  periodEnd?: number;
  /** The price billed on the single default line. */
  price?: Stripe.Price;
  subscriptionItem?: string;
  lines?: Json[];
  metadata?: Metadata;
  created?: number;
  apiShape?: ApiShape;
  overrides?: DeepPartial<Stripe.Invoice>;
}

export interface InvoiceLineOptions {
  invoice: string;
  amount: number;
  currency?: string;
  price?: Stripe.Price;
  subscription?: string | null;
  subscriptionItem?: string | null;
  periodStart: number;
  periodEnd: number;
  quantity?: number;
  proration?: boolean;
  description?: string;
}

/** One `line_item` of an invoice, billed either for a subscription item or a one-off item. */
export function invoiceLineObject(options: InvoiceLineOptions): Json {
  const template = fixture<{ lines: { data: Json[] } }>('invoice').lines.data[0] ?? {};
  const fromSubscription = Boolean(options.subscriptionItem);
  const proration = options.proration ?? false;
  return Object.assign(template, {
    id: stripeId('il'),
    invoice: options.invoice,
    amount: options.amount,
    subtotal: options.amount,
    currency: options.currency ?? options.price?.currency ?? 'usd',
    description:
      options.description ??
      (options.price
        ? `${options.quantity ?? 1} × ${options.price.nickname ?? 'Subscription'}`
        : 'Invoice item'),
    period: { start: options.periodStart, end: options.periodEnd },
    quantity: options.quantity ?? 1,
    metadata: {},
    discount_amounts: [],
    discounts: [],
    subscription: options.subscription ?? null,
    parent: fromSubscription
      ? {
          type: 'subscription_item_details',
          invoice_item_details: null,
          subscription_item_details: {
            invoice_item: null,
            proration,
            proration_details: { credited_items: null },
            subscription: options.subscription ?? null,
            subscription_item: options.subscriptionItem,
          },
        }
      : {
          type: 'invoice_item_details',
          subscription_item_details: null,
          invoice_item_details: {
            invoice_item: stripeId('ii'),
            proration,
            proration_details: { credited_items: null },
            subscription: options.subscription ?? null,
          },
        },
    pricing: options.price
      ? {
          type: 'price_details',
          price_details: { price: options.price.id, product: String(options.price.product) },
          unit_amount_decimal: options.price.unit_amount_decimal ?? null,
        }
      : { type: 'price_details', unit_amount_decimal: null },
  });
}

export function invoiceObject(options: InvoiceOptions = {}): Stripe.Invoice {
  const invoice = fixture<Json>('invoice');
  const id = options.id ?? stripeId('in');
  const created = options.created ?? nowSeconds();
  const periodStart = options.periodStart ?? created;
  const periodEnd = options.periodEnd ?? periodStart + periodLength('month');
  const subscription = options.subscription ?? null;
  const currency = options.currency ?? options.price?.currency ?? 'usd';
  const lines = options.lines ?? [
    invoiceLineObject({
      invoice: id,
      amount: options.amountDue ?? options.price?.unit_amount ?? 2000,
      currency,
      price: options.price,
      subscription,
      subscriptionItem: subscription ? (options.subscriptionItem ?? stripeId('si')) : null,
      periodStart,
      periodEnd,
    }),
  ];
  const total =
    options.amountDue ?? lines.reduce((sum, line) => sum + (Number(line.amount) || 0), 0);
  const status = options.status ?? 'paid';
  const amountPaid = options.amountPaid ?? (status === 'paid' ? total : 0);
  Object.assign(invoice, {
    id,
    customer: options.customer ?? stripeId('cus'),
    status,
    currency,
    created,
    period_start: periodStart,
    period_end: periodEnd,
    effective_at: status === 'draft' ? null : created,
    due_date: null,
    next_payment_attempt: status === 'open' ? created + 3 * DAY_SECONDS : null,
    webhooks_delivered_at: created,
    amount_due: total,
    amount_paid: amountPaid,
    amount_remaining: Math.max(0, total - amountPaid),
    amount_overpaid: 0,
    subtotal: total,
    subtotal_excluding_tax: total,
    total,
    total_excluding_tax: total,
    attempted: status !== 'draft',
    attempt_count: status === 'draft' ? 0 : 1,
    billing_reason: options.billingReason ?? (subscription ? 'subscription_cycle' : 'manual'),
    number: status === 'draft' ? null : `${id.slice(3, 11).toUpperCase()}-0001`,
    hosted_invoice_url: status === 'draft' ? null : `https://invoice.stripe.com/i/${id}`,
    invoice_pdf: status === 'draft' ? null : `https://pay.stripe.com/invoice/${id}/pdf`,
    metadata: options.metadata ?? {},
    lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
    status_transitions: {
      finalized_at: status === 'draft' ? null : created,
      marked_uncollectible_at: status === 'uncollectible' ? created : null,
      paid_at: status === 'paid' ? created : null,
      voided_at: status === 'void' ? created : null,
    },
    parent: subscription
      ? {
          type: 'subscription_details',
          quote_details: null,
          subscription_details: { metadata: null, subscription },
        }
      : null,
    from_invoice: null,
    last_finalization_error: null,
    shipping_cost: null,
    discounts: [],
    livemode: false,
  });
  if ((options.apiShape ?? 'basil') === 'legacy') invoice.subscription = subscription;
  else delete invoice.subscription;
  return deepMerge(invoice, options.overrides) as unknown as Stripe.Invoice;
}

export interface InvoicePaymentOptions {
  id?: string;
  invoice?: string;
  amount?: number;
  currency?: string;
  status?: 'paid' | 'open' | 'canceled';
  paymentIntent?: string;
  created?: number;
  overrides?: DeepPartial<Stripe.InvoicePayment>;
}

export function invoicePaymentObject(options: InvoicePaymentOptions = {}): Stripe.InvoicePayment {
  const payment = fixture<Json>('invoice_payment');
  const created = options.created ?? nowSeconds();
  const status = options.status ?? 'paid';
  const amount = options.amount ?? 2000;
  Object.assign(payment, {
    id: options.id ?? stripeId('inpay'),
    invoice: options.invoice ?? stripeId('in'),
    amount_requested: amount,
    amount_paid: status === 'paid' ? amount : null,
    currency: options.currency ?? 'usd',
    created,
    is_default: true,
    livemode: false,
    status,
    payment: { type: 'payment_intent', payment_intent: options.paymentIntent ?? stripeId('pi') },
    status_transitions: {
      canceled_at: status === 'canceled' ? created : null,
      paid_at: status === 'paid' ? created : null,
    },
  });
  return deepMerge(payment, options.overrides) as unknown as Stripe.InvoicePayment;
}

// ---------------------------------------------------------------------------------------
// Checkout session, subscription schedule, entitlements

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

export interface SubscriptionScheduleOptions {
  id?: string;
  customer?: string;
  subscription?: string | null;
  status?: Stripe.SubscriptionSchedule.Status;
  /** Phases in order; default one phase with a fresh price from now to now+30d. */
  phases?: Array<{ price: string; quantity?: number; startDate: number; endDate: number | null }>;
  metadata?: Metadata;
  created?: number;
  overrides?: DeepPartial<Stripe.SubscriptionSchedule>;
}

export function subscriptionScheduleObject(
  options: SubscriptionScheduleOptions = {},
): Stripe.SubscriptionSchedule {
  const schedule = fixture<Json>('subscription_schedule');
  const created = options.created ?? nowSeconds();
  const template = (schedule.phases as Json[])[0] ?? {};
  const specs = options.phases ?? [
    { price: stripeId('price'), startDate: created, endDate: created + periodLength('month') },
  ];
  const phases = specs.map((spec) => {
    const phase = structuredClone(template);
    const item = structuredClone(((template.items as Json[]) ?? [])[0] ?? {});
    Object.assign(item, {
      price: spec.price,
      quantity: spec.quantity ?? 1,
      plan: spec.price,
      metadata: {},
      billing_thresholds: null,
    });
    Object.assign(phase, {
      start_date: spec.startDate,
      end_date: spec.endDate,
      items: [item],
      transfer_data: null,
      billing_thresholds: null,
    });
    return phase;
  });
  const status = options.status ?? (options.subscription ? 'active' : 'not_started');
  const current = specs.find(
    (spec) => spec.startDate <= created && (spec.endDate === null || created < spec.endDate),
  );
  Object.assign(schedule, {
    id: options.id ?? stripeId('sub_sched'),
    customer: options.customer ?? stripeId('cus'),
    subscription: options.subscription ?? null,
    status,
    phases,
    current_phase:
      status === 'active' && current
        ? { start_date: current.startDate, end_date: current.endDate }
        : null,
    metadata: options.metadata ?? {},
    created,
    canceled_at: status === 'canceled' ? created : null,
    completed_at: status === 'completed' ? created : null,
    released_at: status === 'released' ? created : null,
    released_subscription: null,
    default_settings: {
      ...(schedule.default_settings as Json),
      transfer_data: null,
      billing_thresholds: null,
    },
    livemode: false,
  });
  return deepMerge(schedule, options.overrides) as unknown as Stripe.SubscriptionSchedule;
}

export interface EntitlementSummaryOptions {
  customer?: string;
  /** Feature lookup keys (or full specs) the customer is entitled to. */
  features?: Array<string | { lookupKey: string; name?: string; id?: string }>;
}

export function entitlementSummaryObject(
  options: EntitlementSummaryOptions = {},
): Stripe.Entitlements.ActiveEntitlementSummary {
  const summary = fixture<Json>('entitlements.active_entitlement_summary');
  const customer = options.customer ?? stripeId('cus');
  const data = (options.features ?? []).map((spec) => {
    const feature = typeof spec === 'string' ? { lookupKey: spec } : spec;
    const entitlement = fixture<Json>('entitlements.active_entitlement');
    const featureObject = fixture<Json>('entitlements.feature');
    Object.assign(featureObject, {
      id: feature.id ?? stripeId('feat_test'),
      lookup_key: feature.lookupKey,
      name: feature.name ?? feature.lookupKey,
      active: true,
      metadata: {},
      livemode: false,
    });
    return Object.assign(entitlement, {
      id: stripeId('ent_test'),
      feature: featureObject,
      lookup_key: feature.lookupKey,
      livemode: false,
    });
  });
  Object.assign(summary, {
    customer,
    livemode: false,
    entitlements: {
      object: 'list',
      data,
      has_more: false,
      url: '/v1/customer/entitlements',
    },
  });
  return summary as unknown as Stripe.Entitlements.ActiveEntitlementSummary;
}

// ---------------------------------------------------------------------------------------
// Events and deliveries

/** A snapshot event (`object: 'event'`), as delivered to a webhook endpoint. */
export interface SnapshotEvent<T = Json> {
  id: string;
  object: 'event';
  account?: string;
  api_version: string | null;
  created: number;
  data: { object: T; previous_attributes?: Json };
  livemode: boolean;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

export interface StripeEventOptions<T> {
  /** e.g. `customer.subscription.updated`; unknown types are allowed on purpose. */
  type: Stripe.Event.Type | (string & {});
  object: T;
  /** Unix seconds. Default now. */
  created?: number;
  id?: string;
  /** Connect account (`acct_…`); omitted for the platform's own events. */
  account?: string;
  /** The version the payload is rendered at; default the client's pinned version. */
  apiVersion?: string | null;
  previousAttributes?: Json;
  livemode?: boolean;
  request?: { id: string | null; idempotency_key: string | null };
  pendingWebhooks?: number;
}

export function stripeEvent<T = Json>(options: StripeEventOptions<T>): SnapshotEvent<T> {
  const event = fixture<Json>('event');
  Object.assign(event, {
    id: options.id ?? stripeId('evt'),
    object: 'event',
    api_version: options.apiVersion === undefined ? STRIPE_API_VERSION : options.apiVersion,
    created: options.created ?? nowSeconds(),
    data: {
      object: structuredClone(options.object),
      ...(options.previousAttributes
        ? { previous_attributes: structuredClone(options.previousAttributes) }
        : {}),
    },
    livemode: options.livemode ?? false,
    pending_webhooks: options.pendingWebhooks ?? 1,
    request: options.request ?? { id: null, idempotency_key: null },
    type: options.type,
  });
  if (options.account) event.account = options.account;
  else delete event.account;
  return event as unknown as SnapshotEvent<T>;
}

/** A thin event (`object: 'v2.core.event'`): a pointer to the object, no snapshot. */
export interface ThinEvent {
  id: string;
  object: 'v2.core.event';
  type: string;
  /** ISO 8601, as v2 APIs render times. */
  created: string;
  livemode: boolean;
  related_object: { id: string; type: string; url: string } | null;
  context: string | null;
  reason: Json | null;
  data?: Json;
}

export interface ThinEventOptions {
  type: string;
  relatedObject?: { id: string; type: string; url?: string } | null;
  /** Unix seconds or a Date. Default now. */
  created?: number | Date;
  id?: string;
  /** Connect account the event belongs to. */
  context?: string | null;
  reason?: Json | null;
  data?: Json;
  livemode?: boolean;
}

const relatedUrl = (type: string, id: string): string => {
  const [namespace, name] = type.includes('.') ? type.split('.', 2) : [undefined, type];
  return namespace ? `/v1/${namespace}/${name}s/${id}` : `/v1/${name}s/${id}`;
};

export function thinEvent(options: ThinEventOptions): ThinEvent {
  const created =
    options.created instanceof Date
      ? options.created
      : new Date((options.created ?? nowSeconds()) * 1000);
  const related =
    options.relatedObject === null
      ? null
      : options.relatedObject
        ? {
            id: options.relatedObject.id,
            type: options.relatedObject.type,
            url:
              options.relatedObject.url ??
              relatedUrl(options.relatedObject.type, options.relatedObject.id),
          }
        : null;
  return {
    id: options.id ?? stripeId('evt_test', 40),
    object: 'v2.core.event',
    type: options.type,
    created: created.toISOString(),
    livemode: options.livemode ?? false,
    related_object: related,
    context: options.context ?? null,
    reason: options.reason ?? null,
    ...(options.data ? { data: structuredClone(options.data) } : {}),
  };
}

export interface SignedDelivery {
  /** The exact bytes that were signed: send them unchanged. */
  body: string;
  headers: Record<string, string>;
}

/**
 * A webhook delivery as Stripe makes it: JSON body, `Stripe-Signature` over those exact bytes.
 * `fetch(url, { method: 'POST', ...signedDelivery(event, secret) })`.
 */
export function signedDelivery(
  event: unknown,
  secret: string,
  options: { timestamp?: number; body?: string } = {},
): SignedDelivery {
  const body = options.body ?? JSON.stringify(event, null, 2);
  return {
    body,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      'stripe-signature': signStripePayload(body, secret, options.timestamp),
    },
  };
}
