import { randomUUID } from 'node:crypto';
import type { Stripe } from '@billing/stripe';
import { invalidRequest, parameterInvalid, resourceMissing, StripeApiError } from './errors.js';
import {
  type CustomerOptions,
  checkoutSessionObject,
  customerObject,
  type FixtureSubscription,
  invoiceLineObject,
  invoiceObject,
  type PriceOptions,
  type ProductOptions,
  planObject,
  priceObject,
  productObject,
  type SnapshotEvent,
  stripeEvent,
  subscriptionItemObject,
  subscriptionObject,
} from './factories.js';
import { DAY_SECONDS, nowSeconds, stripeId } from './ids.js';

/**
 * In-memory state of the fake Stripe account: one map per resource, and every change
 * recorded as a Stripe event (`customer.created`, `customer.subscription.updated` with
 * `previous_attributes`, ...) in `events`, so a simulator can later deliver them as webhooks.
 *
 * Methods take already-validated, camelCase inputs; the HTTP layer (server.ts) decodes and
 * checks Stripe's form parameters. Errors are StripeApiError, rendered the way Stripe does.
 */

type Json = Record<string, unknown>;
type Metadata = Record<string, string>;
/**
 * A metadata patch as Stripe takes it: a key set to an empty string (here `null`) is
 * removed; the whole patch `null` (`metadata=` on the wire) clears all keys.
 */
export type MetadataPatch = Record<string, string | null> | null;

/** Who caused a change: copied into the emitted event's `request` (and `account`). */
export interface ChangeContext {
  requestId?: string | null;
  idempotencyKey?: string | null;
  account?: string;
}

export interface SubscriptionItemInput {
  price: string;
  quantity?: number;
  metadata?: Metadata;
}

export interface SubscriptionItemChange {
  id?: string;
  price?: string;
  quantity?: number;
  deleted?: boolean;
  metadata?: MetadataPatch;
}

export type ProrationBehavior = 'create_prorations' | 'none' | 'always_invoice';

export interface SubscriptionUpdate {
  items?: SubscriptionItemChange[];
  prorationBehavior?: ProrationBehavior;
  prorationDate?: number;
  cancelAtPeriodEnd?: boolean;
  cancelAt?: number | null;
  metadata?: MetadataPatch;
  trialEnd?: number | 'now';
  description?: string | null;
}

/** Called with every event the state records, in order (the simulator delivers them as webhooks). */
export type EventListener = (event: SnapshotEvent) => void;

export interface FakeStripeStateOptions {
  now?: () => number;
  /**
   * The hosted page URL of an open checkout session. Default Stripe's
   * (`https://checkout.stripe.com/c/pay/<id>`); the simulator serves its own page.
   */
  checkoutUrl?: (sessionId: string) => string;
  /** Keep at most this many events in `events` (oldest dropped). Default: all. */
  maxEvents?: number;
}

/** What `toJSON()` writes and `FakeStripeState.fromJSON()` reads back (the simulator's state file). */
export interface FakeStripeSnapshot {
  version: 1;
  customers: Stripe.Customer[];
  products: Stripe.Product[];
  prices: Stripe.Price[];
  subscriptions: FixtureSubscription[];
  invoices: Stripe.Invoice[];
  checkoutSessions: Stripe.Checkout.Session[];
  events: SnapshotEvent[];
  failedDeliveries: string[];
  deletedCustomers: string[];
  meterEvents: Stripe.Billing.MeterEvent[];
  meterEventDuplicates: number;
  checkoutInputs: Array<[string, CheckoutSessionInput]>;
  sequence: Array<[string, number]>;
  decliningCustomers: string[];
  pendingInvoiceLines: Array<[string, Json[]]>;
}

export interface CheckoutSessionInput {
  mode: Stripe.Checkout.Session.Mode;
  customer?: string;
  customerEmail?: string;
  clientReferenceId?: string;
  lineItems: Array<{ price: string; quantity: number }>;
  successUrl?: string;
  cancelUrl?: string;
  metadata?: Metadata;
  subscriptionMetadata?: Metadata;
}

/** Stripe's list order: newest first, ties broken by creation order (newest first). */
interface Ordered {
  id: string;
  created?: number;
}

const METER_EVENT_MAX_AGE = 35 * DAY_SECONDS;
const METER_EVENT_MAX_FUTURE = 5 * 60;

const isPlainObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * What changed between two renderings of an object, as Stripe reports it in
 * `previous_attributes`: the old value of each changed top-level field; for plain-object
 * fields such as `metadata`, only the changed keys (null for keys that did not exist).
 */
export function previousAttributes(before: Json, after: Json): Json {
  const previous: Json = {};
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    const old = before[key];
    const now = after[key];
    if (sameValue(old, now)) continue;
    if (isPlainObject(old) && isPlainObject(now) && key === 'metadata') {
      const changed: Json = {};
      for (const sub of new Set([...Object.keys(old), ...Object.keys(now)])) {
        if (!sameValue(old[sub], now[sub])) changed[sub] = old[sub] ?? null;
      }
      previous[key] = changed;
    } else {
      previous[key] = old === undefined ? null : structuredClone(old);
    }
  }
  return previous;
}

const applyMetadata = (current: Metadata, patch: MetadataPatch | undefined): Metadata => {
  if (patch === null) return {};
  if (patch === undefined) return current;
  const next = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null || value === '') delete next[key];
    else next[key] = value;
  }
  return next;
};

const intervalSeconds = (price: Stripe.Price): number => {
  const count = price.recurring?.interval_count ?? 1;
  switch (price.recurring?.interval) {
    case 'day':
      return DAY_SECONDS * count;
    case 'week':
      return 7 * DAY_SECONDS * count;
    case 'year':
      return 365 * DAY_SECONDS * count;
    default:
      return 30 * DAY_SECONDS * count;
  }
};

/** The subscription's current period, from its items (basil) or itself (legacy). */
export function subscriptionPeriod(subscription: FixtureSubscription): {
  start: number;
  end: number;
} {
  const item = subscription.items.data[0] as
    | (Stripe.SubscriptionItem & { current_period_start?: number; current_period_end?: number })
    | undefined;
  const start =
    item?.current_period_start ?? subscription.current_period_start ?? subscription.created;
  const end =
    item?.current_period_end ?? subscription.current_period_end ?? start + 30 * DAY_SECONDS;
  return { start, end };
}

interface ProrationChange {
  itemId: string;
  oldPrice: Stripe.Price | null;
  oldQuantity: number;
  newPrice: Stripe.Price | null;
  newQuantity: number;
}

export class FakeStripeState {
  readonly customers = new Map<string, Stripe.Customer>();
  readonly products = new Map<string, Stripe.Product>();
  readonly prices = new Map<string, Stripe.Price>();
  readonly subscriptions = new Map<string, FixtureSubscription>();
  readonly invoices = new Map<string, Stripe.Invoice>();
  readonly checkoutSessions = new Map<string, Stripe.Checkout.Session>();
  /** Every state change, in order, as the snapshot event Stripe would send. */
  readonly events = new Map<string, SnapshotEvent>();
  /** Event ids whose webhook delivery failed (what `GET /v1/events?delivery_success=false` lists). */
  readonly failedDeliveries = new Set<string>();
  /** Billing meter events, one per identifier (Stripe enforces identifier uniqueness). */
  readonly meterEvents = new Map<string, Stripe.Billing.MeterEvent>();
  /** Ids of deleted customers: retrieving one answers `{ id, object, deleted: true }`, as Stripe does. */
  readonly deletedCustomers = new Set<string>();
  /** Meter events sent again with an identifier already seen (accepted, counted once). */
  meterEventDuplicates = 0;

  private readonly checkoutInputs = new Map<string, CheckoutSessionInput>();
  private readonly sequence = new Map<string, number>();
  private nextSequence = 0;
  private readonly clock: () => number;
  private readonly checkoutUrl: ((sessionId: string) => string) | undefined;
  private readonly maxEvents: number | undefined;
  private readonly listeners = new Set<EventListener>();
  /** Customers whose card declines every charge (`setCardDeclines`). */
  private readonly decliningCustomers = new Set<string>();
  /**
   * Proration lines a `create_prorations` change left for the subscription's next invoice
   * (Stripe's pending invoice items), per subscription.
   */
  private readonly pendingInvoiceLines = new Map<string, Json[]>();

  constructor(options: FakeStripeStateOptions = {}) {
    this.clock = options.now ?? nowSeconds;
    this.checkoutUrl = options.checkoutUrl;
    this.maxEvents = options.maxEvents;
  }

  /** Calls `listener` with every event recorded from now on; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  now(): number {
    return this.clock();
  }

  reset(): void {
    for (const map of this.maps()) map.clear();
    this.failedDeliveries.clear();
    this.deletedCustomers.clear();
    this.meterEvents.clear();
    this.checkoutInputs.clear();
    this.sequence.clear();
    this.decliningCustomers.clear();
    this.pendingInvoiceLines.clear();
    this.meterEventDuplicates = 0;
  }

  /**
   * The whole account as JSON (the simulator keeps it in a file across restarts). Only the
   * newest `maxEvents` events are kept.
   */
  toJSON(maxEvents = 5_000): FakeStripeSnapshot {
    const events = [...this.events.values()].slice(-maxEvents);
    return structuredClone({
      version: 1 as const,
      customers: [...this.customers.values()],
      products: [...this.products.values()],
      prices: [...this.prices.values()],
      subscriptions: [...this.subscriptions.values()],
      invoices: [...this.invoices.values()],
      checkoutSessions: [...this.checkoutSessions.values()],
      events,
      failedDeliveries: [...this.failedDeliveries].filter((id) => this.events.has(id)),
      deletedCustomers: [...this.deletedCustomers],
      meterEvents: [...this.meterEvents.values()],
      meterEventDuplicates: this.meterEventDuplicates,
      checkoutInputs: [...this.checkoutInputs.entries()],
      sequence: [...this.sequence.entries()],
      decliningCustomers: [...this.decliningCustomers],
      pendingInvoiceLines: [...this.pendingInvoiceLines.entries()],
    });
  }

  /** A state holding what `toJSON()` wrote. Restoring records no events. */
  static fromJSON(
    snapshot: FakeStripeSnapshot,
    options: FakeStripeStateOptions = {},
  ): FakeStripeState {
    if (snapshot.version !== 1)
      throw new Error(`unsupported state snapshot version ${String(snapshot.version)}`);
    const state = new FakeStripeState(options);
    const copy = structuredClone(snapshot);
    for (const [id, position] of copy.sequence) state.sequence.set(id, position);
    state.nextSequence = copy.sequence.reduce(
      (max, [, position]) => Math.max(max, position + 1),
      0,
    );
    const load = <T extends Ordered>(map: Map<string, T>, items: T[]) => {
      for (const item of items) state.store(map, item);
    };
    load(state.customers, copy.customers);
    load(state.products, copy.products);
    load(state.prices, copy.prices);
    load(state.subscriptions, copy.subscriptions);
    load(state.invoices, copy.invoices as Array<Stripe.Invoice & Ordered>);
    load(state.checkoutSessions, copy.checkoutSessions);
    load(state.events, copy.events as Array<SnapshotEvent & Ordered>);
    for (const id of copy.failedDeliveries) state.failedDeliveries.add(id);
    for (const id of copy.deletedCustomers) state.deletedCustomers.add(id);
    for (const event of copy.meterEvents) state.meterEvents.set(event.identifier, event);
    state.meterEventDuplicates = copy.meterEventDuplicates;
    for (const [id, input] of copy.checkoutInputs) state.checkoutInputs.set(id, input);
    for (const id of copy.decliningCustomers) state.decliningCustomers.add(id);
    for (const [id, lines] of copy.pendingInvoiceLines) state.pendingInvoiceLines.set(id, lines);
    return state;
  }

  private maps(): Array<Map<string, Ordered>> {
    return [
      this.customers,
      this.products,
      this.prices,
      this.subscriptions,
      this.invoices,
      this.checkoutSessions,
      this.events,
    ] as unknown as Array<Map<string, Ordered>>;
  }

  /** Any stored object by id (used to expand references). */
  find(id: string): Ordered | undefined {
    for (const map of this.maps()) {
      const found = map.get(id);
      if (found) return found;
    }
    return undefined;
  }

  private store<T extends Ordered>(map: Map<string, T>, object: T): T {
    if (!this.sequence.has(object.id)) this.sequence.set(object.id, this.nextSequence++);
    map.set(object.id, object);
    return object;
  }

  /** Sort key position of an object: larger = newer. */
  position(object: Ordered): [number, number] {
    return [object.created ?? 0, this.sequence.get(object.id) ?? -1];
  }

  /** Newest first, as every Stripe list endpoint returns. */
  sorted<T extends Ordered>(items: Iterable<T>): T[] {
    return [...items].sort((a, b) => {
      const [ca, sa] = this.position(a);
      const [cb, sb] = this.position(b);
      return cb - ca || sb - sa;
    });
  }

  // -------------------------------------------------------------------------------------
  // Events

  /** Records a change as a snapshot event (deep copy of the object as it is now). */
  emit(
    type: string,
    object: Ordered | Json,
    previous?: Json,
    context: ChangeContext = {},
  ): SnapshotEvent {
    const event = stripeEvent<Json>({
      type,
      object: object as Json,
      created: this.now(),
      previousAttributes: previous && Object.keys(previous).length > 0 ? previous : undefined,
      account: context.account,
      request: { id: context.requestId ?? null, idempotency_key: context.idempotencyKey ?? null },
      pendingWebhooks: 1,
    });
    this.store(this.events, event as SnapshotEvent & Ordered);
    if (this.maxEvents !== undefined && this.events.size > this.maxEvents) {
      // A long-running simulator keeps a window of history, like Stripe's 30 days of events.
      const oldest = this.events.keys().next().value as string;
      this.events.delete(oldest);
      this.sequence.delete(oldest);
      this.failedDeliveries.delete(oldest);
    }
    for (const listener of this.listeners) listener(event);
    return event;
  }

  /** Adds an event built elsewhere (e.g. by stripeEvent), optionally marked as failed to deliver. */
  seedEvent(event: SnapshotEvent, options: { deliverySuccess?: boolean } = {}): SnapshotEvent {
    this.store(this.events, event as SnapshotEvent & Ordered);
    if (options.deliverySuccess === false) this.failedDeliveries.add(event.id);
    return event;
  }

  // -------------------------------------------------------------------------------------
  // Customers

  createCustomer(
    options: Omit<CustomerOptions, 'overrides'> & {
      description?: string | null;
      phone?: string | null;
    } = {},
    context?: ChangeContext,
  ): Stripe.Customer {
    const customer = customerObject({
      ...options,
      email: options.email ?? null,
      created: options.created ?? this.now(),
    });
    customer.description = options.description ?? null;
    customer.phone = options.phone ?? null;
    this.store(this.customers, customer);
    this.emit('customer.created', customer, undefined, context);
    return customer;
  }

  /** Adds `count` customers quickly, without events (pre-existing account data). */
  seedCustomers(
    count: number,
    build: (index: number) => CustomerOptions = () => ({}),
  ): Stripe.Customer[] {
    const created = this.now();
    const out: Stripe.Customer[] = [];
    for (let index = 0; index < count; index++) {
      out.push(this.store(this.customers, customerObject({ created, ...build(index) })));
    }
    return out;
  }

  getCustomer(id: string, param?: string): Stripe.Customer {
    const customer = this.customers.get(id);
    if (!customer) throw resourceMissing('customer', id, param);
    return customer;
  }

  updateCustomer(
    id: string,
    patch: {
      email?: string | null;
      name?: string | null;
      description?: string | null;
      phone?: string | null;
      metadata?: MetadataPatch;
    },
    context?: ChangeContext,
  ): Stripe.Customer {
    const customer = this.getCustomer(id);
    const before = structuredClone(customer) as unknown as Json;
    if (patch.email !== undefined) customer.email = patch.email;
    if (patch.name !== undefined) customer.name = patch.name;
    if (patch.description !== undefined) customer.description = patch.description;
    if (patch.phone !== undefined) customer.phone = patch.phone;
    customer.metadata = applyMetadata(customer.metadata, patch.metadata);
    const previous = previousAttributes(before, customer as unknown as Json);
    if (Object.keys(previous).length > 0)
      this.emit('customer.updated', customer, previous, context);
    return customer;
  }

  deleteCustomer(
    id: string,
    context?: ChangeContext,
  ): { id: string; object: 'customer'; deleted: true } {
    const customer = this.getCustomer(id);
    this.customers.delete(id);
    this.deletedCustomers.add(id);
    for (const subscription of this.subscriptions.values()) {
      if (subscription.customer === id && subscription.status !== 'canceled')
        this.cancelSubscription(subscription.id, context);
    }
    this.emit('customer.deleted', customer, undefined, context);
    return { id, object: 'customer', deleted: true };
  }

  // -------------------------------------------------------------------------------------
  // Products and prices

  createProduct(
    options: Omit<ProductOptions, 'overrides'> = {},
    context?: ChangeContext,
  ): Stripe.Product {
    const product = productObject({ ...options, created: options.created ?? this.now() });
    this.store(this.products, product);
    this.emit('product.created', product, undefined, context);
    return product;
  }

  getProduct(id: string, param?: string): Stripe.Product {
    const product = this.products.get(id);
    if (!product) throw resourceMissing('product', id, param);
    return product;
  }

  updateProduct(
    id: string,
    patch: {
      name?: string;
      active?: boolean;
      description?: string | null;
      metadata?: MetadataPatch;
      defaultPrice?: string | null;
    },
    context?: ChangeContext,
  ): Stripe.Product {
    const product = this.getProduct(id);
    const before = structuredClone(product) as unknown as Json;
    if (patch.name !== undefined) product.name = patch.name;
    if (patch.active !== undefined) product.active = patch.active;
    if (patch.description !== undefined) product.description = patch.description;
    if (patch.defaultPrice !== undefined) {
      if (patch.defaultPrice !== null) this.getPrice(patch.defaultPrice, 'default_price');
      product.default_price = patch.defaultPrice;
    }
    product.metadata = applyMetadata(product.metadata, patch.metadata);
    const previous = previousAttributes(before, product as unknown as Json);
    if (Object.keys(previous).length > 0) {
      product.updated = this.now();
      this.emit('product.updated', product, previous, context);
    }
    return product;
  }

  /**
   * Creates a price. A lookup key already in use is an error unless `transferLookupKey`,
   * which moves it to the new price (Stripe's behaviour).
   */
  createPrice(
    options: Omit<PriceOptions, 'overrides'> & { product: string; transferLookupKey?: boolean },
    context?: ChangeContext,
  ): Stripe.Price {
    this.getProduct(options.product, 'product');
    if (options.lookupKey) {
      const holder = [...this.prices.values()].find(
        (price) => price.lookup_key === options.lookupKey,
      );
      if (holder && !options.transferLookupKey) {
        throw invalidRequest(
          `A price (\`${holder.id}\`) already uses that lookup key. Pass \`transfer_lookup_key\`=true to transfer it to this price.`,
          'lookup_key',
        );
      }
      if (holder) this.updatePrice(holder.id, { lookupKey: null }, context);
    }
    const { transferLookupKey: _transfer, ...priceOptions } = options;
    const price = priceObject({ ...priceOptions, created: options.created ?? this.now() });
    this.store(this.prices, price);
    this.emit('price.created', price, undefined, context);
    // Stripe still emits the legacy plan event next to recurring prices.
    if (price.recurring) this.emit('plan.created', planObject(price), undefined, context);
    return price;
  }

  getPrice(id: string, param?: string): Stripe.Price {
    const price = this.prices.get(id);
    if (!price) throw resourceMissing('price', id, param);
    return price;
  }

  updatePrice(
    id: string,
    patch: {
      active?: boolean;
      nickname?: string | null;
      lookupKey?: string | null;
      metadata?: MetadataPatch;
    },
    context?: ChangeContext,
  ): Stripe.Price {
    const price = this.getPrice(id);
    const before = structuredClone(price) as unknown as Json;
    if (patch.active !== undefined) price.active = patch.active;
    if (patch.nickname !== undefined) price.nickname = patch.nickname;
    if (patch.lookupKey !== undefined) price.lookup_key = patch.lookupKey;
    price.metadata = applyMetadata(price.metadata, patch.metadata);
    const previous = previousAttributes(before, price as unknown as Json);
    if (Object.keys(previous).length > 0) this.emit('price.updated', price, previous, context);
    return price;
  }

  // -------------------------------------------------------------------------------------
  // Subscriptions

  getSubscription(id: string, param?: string): FixtureSubscription {
    const subscription = this.subscriptions.get(id);
    if (!subscription) throw resourceMissing('subscription', id, param);
    return subscription;
  }

  private recurringPrice(id: string, param: string): Stripe.Price {
    const price = this.getPrice(id, param);
    if (!price.recurring) {
      throw parameterInvalid(
        param,
        `The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`,
      );
    }
    if (!price.active)
      throw parameterInvalid(
        param,
        `The price specified is inactive. This field only accepts active prices.`,
      );
    return price;
  }

  /**
   * Creates an active (or trialing) subscription and its first invoice, paid; emits
   * `customer.subscription.created` and the invoice events in Stripe's order.
   */
  createSubscription(
    input: {
      customer: string;
      items: SubscriptionItemInput[];
      metadata?: Metadata;
      trialPeriodDays?: number;
      cancelAtPeriodEnd?: boolean;
      description?: string | null;
      /**
       * `incomplete`: the subscription is created incomplete and turns active once its first
       * invoice is paid (what Checkout does). Default: created active (or trialing).
       */
      initialStatus?: 'incomplete';
      /** Overrides the customer's card (`setCardDeclines`) for the first invoice. */
      paymentFails?: boolean;
    },
    context?: ChangeContext,
  ): FixtureSubscription {
    this.getCustomer(input.customer, 'customer');
    if (input.items.length === 0) throw invalidRequest('Missing required param: items.', 'items');
    const seen = new Set<string>();
    const prices = input.items.map((item, index) => {
      if (seen.has(item.price)) {
        throw invalidRequest(
          `Cannot add multiple subscription items with the same price: ${item.price}`,
          `items[${index}][price]`,
        );
      }
      seen.add(item.price);
      return this.recurringPrice(item.price, `items[${index}][price]`);
    });
    const now = this.now();
    const trialEnd = input.trialPeriodDays ? now + input.trialPeriodDays * DAY_SECONDS : null;
    const first = prices[0]!;
    const end = trialEnd ?? now + intervalSeconds(first);
    const liveStatus = trialEnd ? 'trialing' : 'active';
    const subscription = subscriptionObject({
      customer: input.customer,
      status: input.initialStatus ?? liveStatus,
      items: input.items.map((item, index) => ({
        price: prices[index]!,
        quantity: item.quantity ?? 1,
        metadata: item.metadata ?? {},
        created: now,
      })),
      metadata: input.metadata ?? {},
      currentPeriodStart: now,
      currentPeriodEnd: end,
      cancelAtPeriodEnd: input.cancelAtPeriodEnd ?? false,
      cancelAt: input.cancelAtPeriodEnd ? end : null,
      trialStart: trialEnd ? now : null,
      trialEnd,
      created: now,
    });
    subscription.description = input.description ?? null;
    this.store(this.subscriptions, subscription);
    this.emit('customer.subscription.created', subscription, undefined, context);
    const lines = subscription.items.data.map((item) =>
      invoiceLineObject({
        invoice: '',
        amount: trialEnd ? 0 : (item.price.unit_amount ?? 0) * (item.quantity ?? 1),
        price: item.price,
        quantity: item.quantity ?? 1,
        subscription: subscription.id,
        subscriptionItem: item.id,
        periodStart: now,
        periodEnd: end,
        description: `${item.quantity ?? 1} × ${this.productName(item.price)}${trialEnd ? ' (trial)' : ''}`,
      }),
    );
    const invoice = this.issueInvoice(
      {
        customer: input.customer,
        subscription: subscription.id,
        lines,
        billingReason: 'subscription_create',
        periodStart: now,
        periodEnd: now,
        paymentFails: input.paymentFails,
      },
      context,
    );
    const before = structuredClone(subscription) as unknown as Json;
    subscription.latest_invoice = invoice.id;
    // A declined first payment leaves the subscription incomplete (payment_behavior
    // allow_incomplete); a paid one makes it live.
    subscription.status = invoice.status === 'paid' ? liveStatus : 'incomplete';
    this.emit(
      'customer.subscription.updated',
      subscription,
      previousAttributes(before, subscription as unknown as Json),
      context,
    );
    return subscription;
  }

  private productName(price: Stripe.Price): string {
    const product =
      typeof price.product === 'string' ? this.products.get(price.product) : undefined;
    return product?.name ?? price.nickname ?? 'Subscription';
  }

  /** Applies item changes to a copy of the subscription's items; returns the new items and proration changes. */
  private planItemChanges(
    subscription: FixtureSubscription,
    changes: SubscriptionItemChange[],
  ): { items: Stripe.SubscriptionItem[]; prorations: ProrationChange[] } {
    const items = structuredClone(subscription.items.data);
    const prorations: ProrationChange[] = [];
    const { start, end } = subscriptionPeriod(subscription);
    changes.forEach((change, index) => {
      const param = `items[${index}]`;
      if (change.id) {
        const position = items.findIndex((item) => item.id === change.id);
        const item = items[position];
        if (!item) throw resourceMissing('subscription item', change.id, `${param}[id]`);
        if (change.deleted) {
          items.splice(position, 1);
          prorations.push({
            itemId: item.id,
            oldPrice: item.price,
            oldQuantity: item.quantity ?? 1,
            newPrice: null,
            newQuantity: 0,
          });
          return;
        }
        const oldPrice = item.price;
        const oldQuantity = item.quantity ?? 1;
        if (change.price && change.price !== item.price.id) {
          const price = this.recurringPrice(change.price, `${param}[price]`);
          item.price = structuredClone(price);
          item.plan = planObject(price);
        }
        if (change.quantity !== undefined) item.quantity = change.quantity;
        item.metadata = applyMetadata(item.metadata, change.metadata);
        if (oldPrice.id !== item.price.id || oldQuantity !== item.quantity) {
          prorations.push({
            itemId: item.id,
            oldPrice,
            oldQuantity,
            newPrice: item.price,
            newQuantity: item.quantity ?? 1,
          });
        }
        return;
      }
      if (change.deleted)
        throw invalidRequest('Cannot delete an item without its id.', `${param}[id]`);
      if (!change.price)
        throw invalidRequest(`Missing required param: ${param}[price].`, `${param}[price]`);
      if (items.some((item) => item.price.id === change.price)) {
        throw invalidRequest(
          `Cannot add multiple subscription items with the same price: ${change.price}`,
          `${param}[price]`,
        );
      }
      const price = this.recurringPrice(change.price, `${param}[price]`);
      const item = subscriptionItemObject({
        subscription: subscription.id,
        price,
        quantity: change.quantity ?? 1,
        metadata: applyMetadata({}, change.metadata),
        currentPeriodStart: start,
        currentPeriodEnd: end,
        created: this.now(),
      });
      items.push(item);
      prorations.push({
        itemId: item.id,
        oldPrice: null,
        oldQuantity: 0,
        newPrice: price,
        newQuantity: item.quantity ?? 1,
      });
    });
    if (items.length === 0)
      throw invalidRequest('A subscription must have at least one active item.', 'items');
    return { items, prorations };
  }

  /**
   * Proration lines for a change at `prorationDate`: a credit for the unused part of the old
   * price and a charge for the rest of the period at the new one. A change of billing
   * interval restarts the cycle: the new price is charged in full.
   */
  private prorationLines(
    subscription: FixtureSubscription,
    changes: ProrationChange[],
    prorationDate: number,
  ): { lines: Json[]; resetPeriod: { start: number; end: number } | null } {
    const { start, end } = subscriptionPeriod(subscription);
    const fraction =
      end > start ? Math.min(1, Math.max(0, (end - prorationDate) / (end - start))) : 0;
    const lines: Json[] = [];
    let resetPeriod: { start: number; end: number } | null = null;
    for (const change of changes) {
      const intervalChanged =
        change.oldPrice !== null &&
        change.newPrice !== null &&
        (change.oldPrice.recurring?.interval !== change.newPrice.recurring?.interval ||
          change.oldPrice.recurring?.interval_count !== change.newPrice.recurring?.interval_count);
      if (change.oldPrice) {
        const amount = -Math.round(
          (change.oldPrice.unit_amount ?? 0) * change.oldQuantity * fraction,
        );
        lines.push(
          invoiceLineObject({
            invoice: '',
            amount,
            price: change.oldPrice,
            quantity: change.oldQuantity,
            subscription: subscription.id,
            subscriptionItem: change.itemId,
            periodStart: prorationDate,
            periodEnd: end,
            proration: true,
            description: `Unused time on ${change.oldQuantity} × ${this.productName(change.oldPrice)}`,
          }),
        );
      }
      if (change.newPrice) {
        const newEnd = intervalChanged ? prorationDate + intervalSeconds(change.newPrice) : end;
        if (intervalChanged) resetPeriod = { start: prorationDate, end: newEnd };
        const share = intervalChanged ? 1 : fraction;
        lines.push(
          invoiceLineObject({
            invoice: '',
            amount: Math.round((change.newPrice.unit_amount ?? 0) * change.newQuantity * share),
            price: change.newPrice,
            quantity: change.newQuantity,
            subscription: subscription.id,
            subscriptionItem: change.itemId,
            periodStart: prorationDate,
            periodEnd: newEnd,
            proration: true,
            description: `Remaining time on ${change.newQuantity} × ${this.productName(change.newPrice)}`,
          }),
        );
      }
    }
    return { lines, resetPeriod };
  }

  updateSubscription(
    id: string,
    update: SubscriptionUpdate,
    context?: ChangeContext,
  ): FixtureSubscription {
    const subscription = this.getSubscription(id);
    if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
      const onlyMetadata = Object.entries(update).every(
        ([key, value]) => key === 'metadata' || value === undefined,
      );
      if (!onlyMetadata) {
        throw invalidRequest(
          'A canceled subscription can only update its cancellation_details and metadata.',
        );
      }
    }
    const before = structuredClone(subscription) as unknown as Json;
    const now = this.now();
    if (update.items && update.items.length > 0) {
      const { items, prorations } = this.planItemChanges(subscription, update.items);
      const behavior = update.prorationBehavior ?? 'create_prorations';
      const { lines, resetPeriod } = this.prorationLines(
        subscription,
        prorations,
        update.prorationDate ?? now,
      );
      if (resetPeriod) {
        for (const item of items) {
          (item as unknown as Json).current_period_start = resetPeriod.start;
          (item as unknown as Json).current_period_end = resetPeriod.end;
        }
        subscription.billing_cycle_anchor = resetPeriod.start;
      }
      subscription.items = { ...subscription.items, data: items };
      // An interval change bills at once (new cycle); always_invoice bills the prorations now;
      // create_prorations leaves them for the next invoice.
      if (
        lines.length > 0 &&
        behavior !== 'none' &&
        (behavior === 'always_invoice' || resetPeriod)
      ) {
        const invoice = this.issueInvoice(
          {
            customer: String(subscription.customer),
            subscription: id,
            lines,
            billingReason: 'subscription_update',
            periodStart: now,
            periodEnd: now,
          },
          context,
        );
        subscription.latest_invoice = invoice.id;
      } else if (lines.length > 0 && behavior === 'create_prorations') {
        // Stripe keeps these as pending invoice items, billed with the next invoice.
        const pending = this.pendingInvoiceLines.get(id) ?? [];
        pending.push(...lines);
        this.pendingInvoiceLines.set(id, pending);
      }
    }
    if (update.cancelAtPeriodEnd !== undefined) {
      subscription.cancel_at_period_end = update.cancelAtPeriodEnd;
      subscription.cancel_at = update.cancelAtPeriodEnd
        ? subscriptionPeriod(subscription).end
        : null;
      if (subscription.cancellation_details) {
        subscription.cancellation_details.reason = update.cancelAtPeriodEnd
          ? 'cancellation_requested'
          : null;
      }
    }
    if (update.cancelAt !== undefined) {
      subscription.cancel_at = update.cancelAt;
      subscription.cancel_at_period_end = false;
    }
    if (update.trialEnd !== undefined) {
      const trialEnd = update.trialEnd === 'now' ? now : update.trialEnd;
      subscription.trial_end = trialEnd;
      if (trialEnd <= now && subscription.status === 'trialing') subscription.status = 'active';
    }
    if (update.description !== undefined) subscription.description = update.description;
    subscription.metadata = applyMetadata(subscription.metadata, update.metadata);
    const previous = previousAttributes(before, subscription as unknown as Json);
    if (Object.keys(previous).length > 0)
      this.emit('customer.subscription.updated', subscription, previous, context);
    return subscription;
  }

  cancelSubscription(id: string, context?: ChangeContext): FixtureSubscription {
    const subscription = this.getSubscription(id);
    if (subscription.status === 'canceled') {
      throw resourceMissing('subscription', id);
    }
    const now = this.now();
    subscription.status = 'canceled';
    subscription.canceled_at = now;
    subscription.ended_at = now;
    subscription.cancel_at_period_end = false;
    if (subscription.cancellation_details) {
      subscription.cancellation_details.reason = 'cancellation_requested';
    }
    this.emit('customer.subscription.deleted', subscription, undefined, context);
    return subscription;
  }

  /**
   * `POST /v1/invoices/create_preview`: the invoice a change would produce, without
   * changing anything. For an existing subscription with item changes: the proration lines,
   * plus (unless `always_invoice`) the next period at the new prices. For a new subscription:
   * its first invoice.
   */
  previewInvoice(input: {
    customer?: string;
    subscription?: string;
    items?: SubscriptionItemChange[];
    prorationDate?: number;
    prorationBehavior?: ProrationBehavior;
  }): Stripe.Invoice {
    const now = this.now();
    let lines: Json[] = [];
    let customer = input.customer;
    let subscriptionId: string | null = null;
    let periodStart = now;
    let periodEnd = now;
    if (input.subscription) {
      const subscription = this.getSubscription(input.subscription, 'subscription');
      if (customer && customer !== subscription.customer) {
        throw invalidRequest(
          `The subscription does not belong to customer ${customer}.`,
          'customer',
        );
      }
      customer = String(subscription.customer);
      subscriptionId = subscription.id;
      const behavior = input.prorationBehavior ?? 'create_prorations';
      const { items, prorations } = this.planItemChanges(subscription, input.items ?? []);
      const prorationDate = input.prorationDate ?? now;
      const { lines: prorationLines, resetPeriod } = this.prorationLines(
        subscription,
        prorations,
        prorationDate,
      );
      if (behavior !== 'none') lines.push(...prorationLines);
      const { end } = subscriptionPeriod(subscription);
      if (behavior !== 'always_invoice' && !resetPeriod) {
        // Pending proration items from earlier changes are billed with the next invoice.
        lines.push(...(structuredClone(this.pendingLines(subscription.id)) as Json[]));
        for (const item of items) {
          lines.push(
            invoiceLineObject({
              invoice: '',
              amount: (item.price.unit_amount ?? 0) * (item.quantity ?? 1),
              price: item.price,
              quantity: item.quantity ?? 1,
              subscription: subscription.id,
              subscriptionItem: item.id,
              periodStart: end,
              periodEnd: end + intervalSeconds(item.price),
              description: `${item.quantity ?? 1} × ${this.productName(item.price)}`,
            }),
          );
        }
        periodStart = subscriptionPeriod(subscription).start;
        periodEnd = end;
      }
    } else {
      if (!customer) throw invalidRequest('Missing required param: customer.', 'customer');
      this.getCustomer(customer, 'customer');
      lines = (input.items ?? []).map((change, index) => {
        if (!change.price)
          throw invalidRequest(
            `Missing required param: subscription_details[items][${index}][price].`,
          );
        const price = this.recurringPrice(
          change.price,
          `subscription_details[items][${index}][price]`,
        );
        return invoiceLineObject({
          invoice: '',
          amount: (price.unit_amount ?? 0) * (change.quantity ?? 1),
          price,
          quantity: change.quantity ?? 1,
          subscriptionItem: stripeId('si'),
          periodStart: now,
          periodEnd: now + intervalSeconds(price),
          description: `${change.quantity ?? 1} × ${this.productName(price)}`,
        });
      });
    }
    const id = stripeId('upcoming_in');
    for (const line of lines) line.invoice = id;
    const total = lines.reduce((sum, line) => sum + Number(line.amount ?? 0), 0);
    const invoice = invoiceObject({
      id,
      customer,
      subscription: subscriptionId,
      status: 'draft',
      lines,
      amountDue: total,
      billingReason: subscriptionId ? 'upcoming' : 'subscription_create',
      periodStart,
      periodEnd,
      created: now,
    });
    // A negative total (a downgrade) is owed to the customer as credit, not charged.
    invoice.amount_due = Math.max(0, total);
    invoice.amount_remaining = Math.max(0, total);
    invoice.ending_balance = Math.min(total, 0);
    invoice.starting_balance = 0;
    return invoice;
  }

  // -------------------------------------------------------------------------------------
  // Invoices

  getInvoice(id: string, param?: string): Stripe.Invoice {
    const invoice = this.invoices.get(id);
    if (!invoice) throw resourceMissing('invoice', id, param);
    return invoice;
  }

  /**
   * Creates an invoice with these lines, finalizes it and charges the customer's card:
   * emits created → finalized → paid → payment_succeeded, or, when the card declines
   * (`setCardDeclines`, or `paymentFails`), created → finalized → payment_failed and the
   * invoice stays open.
   */
  issueInvoice(
    input: {
      /** Pre-assigned id (to reference the invoice before its events). */
      id?: string;
      customer: string;
      subscription?: string | null;
      lines: Json[];
      billingReason: Stripe.Invoice.BillingReason;
      periodStart: number;
      periodEnd: number;
      paymentFails?: boolean;
    },
    context?: ChangeContext,
  ): Stripe.Invoice {
    const id = input.id ?? stripeId('in');
    for (const line of input.lines) line.invoice = id;
    const total = input.lines.reduce((sum, line) => sum + Number(line.amount ?? 0), 0);
    const invoice = invoiceObject({
      id,
      customer: input.customer,
      subscription: input.subscription ?? null,
      status: 'paid',
      lines: input.lines,
      amountDue: Math.max(0, total),
      amountPaid: Math.max(0, total),
      billingReason: input.billingReason,
      periodStart: input.periodStart,
      periodEnd: input.periodEnd,
      created: this.now(),
    });
    invoice.total = total;
    invoice.subtotal = total;
    this.store(this.invoices, invoice);
    const paid = structuredClone(invoice);
    invoice.status = 'draft';
    invoice.status_transitions = {
      ...invoice.status_transitions,
      finalized_at: null,
      paid_at: null,
    };
    invoice.amount_paid = 0;
    invoice.amount_remaining = paid.amount_due;
    invoice.attempted = false;
    invoice.attempt_count = 0;
    this.emit('invoice.created', invoice, undefined, context);
    invoice.status = 'open';
    invoice.status_transitions = { ...invoice.status_transitions, finalized_at: paid.created };
    this.emit('invoice.finalized', invoice, { status: 'draft' }, context);
    const fails =
      paid.amount_due > 0 && (input.paymentFails ?? this.decliningCustomers.has(input.customer));
    if (fails) {
      this.failPayment(invoice, context);
      return invoice;
    }
    Object.assign(invoice, paid);
    this.emit(
      'invoice.paid',
      invoice,
      { status: 'open', amount_paid: 0, amount_remaining: paid.amount_due },
      context,
    );
    this.emit('invoice.payment_succeeded', invoice, undefined, context);
    return invoice;
  }

  /** A declined charge on an open invoice: `invoice.payment_failed`, next attempt in 3 days. */
  private failPayment(invoice: Stripe.Invoice, context?: ChangeContext): void {
    const now = this.now();
    invoice.status = 'open';
    invoice.attempted = true;
    invoice.attempt_count = (invoice.attempt_count ?? 0) + 1;
    invoice.amount_paid = 0;
    invoice.amount_remaining = invoice.amount_due;
    invoice.next_payment_attempt = now + 3 * DAY_SECONDS;
    invoice.status_transitions = { ...invoice.status_transitions, paid_at: null };
    this.emit('invoice.payment_failed', invoice, undefined, context);
  }

  /** Makes every later charge to this customer's card decline (`true`) or succeed again. */
  setCardDeclines(customerId: string, declines: boolean): void {
    this.getCustomer(customerId, 'customer');
    if (declines) this.decliningCustomers.add(customerId);
    else this.decliningCustomers.delete(customerId);
  }

  cardDeclines(customerId: string): boolean {
    return this.decliningCustomers.has(customerId);
  }

  /** Proration lines waiting for the subscription's next invoice. */
  pendingLines(subscriptionId: string): readonly Json[] {
    return this.pendingInvoiceLines.get(subscriptionId) ?? [];
  }

  /**
   * `POST /v1/invoices/:id/pay`: charges an open invoice again (Stripe's retry, or the
   * customer fixing their card). Paid: `invoice.paid`, `invoice.payment_succeeded`, and a
   * past_due (or incomplete) subscription billed by it becomes active again
   * (`customer.subscription.updated`). Declined: `invoice.payment_failed`, and the call
   * answers 402 `card_declined`, as Stripe does.
   */
  payInvoice(
    id: string,
    options: { paymentFails?: boolean } = {},
    context?: ChangeContext,
  ): Stripe.Invoice {
    const invoice = this.getInvoice(id);
    if (invoice.status === 'paid') throw invalidRequest('Invoice is already paid.');
    if (invoice.status !== 'open') {
      throw invalidRequest(`You can only pay an open invoice; this one is ${invoice.status}.`);
    }
    const customer = String(invoice.customer);
    if (options.paymentFails ?? this.decliningCustomers.has(customer)) {
      this.failPayment(invoice, context);
      throw new StripeApiError(402, 'card_error', 'Your card was declined.', 'card_declined');
    }
    const now = this.now();
    const before = structuredClone(invoice) as unknown as Json;
    invoice.status = 'paid';
    invoice.attempted = true;
    invoice.attempt_count = Math.max(1, invoice.attempt_count ?? 0);
    invoice.amount_paid = invoice.amount_due;
    invoice.amount_remaining = 0;
    invoice.next_payment_attempt = null;
    invoice.status_transitions = { ...invoice.status_transitions, paid_at: now };
    const previous = previousAttributes(before, invoice as unknown as Json);
    this.emit(
      'invoice.paid',
      invoice,
      {
        status: previous.status,
        amount_paid: previous.amount_paid,
        amount_remaining: previous.amount_remaining,
      },
      context,
    );
    this.emit('invoice.payment_succeeded', invoice, undefined, context);
    const subscriptionId = invoice.parent?.subscription_details?.subscription;
    const subscription =
      typeof subscriptionId === 'string' ? this.subscriptions.get(subscriptionId) : undefined;
    if (
      subscription &&
      subscription.latest_invoice === invoice.id &&
      ['past_due', 'unpaid', 'incomplete'].includes(subscription.status)
    ) {
      const status = subscription.status;
      subscription.status =
        subscription.trial_end && subscription.trial_end > now ? 'trialing' : 'active';
      this.emit('customer.subscription.updated', subscription, { status }, context);
    }
    return invoice;
  }

  /**
   * The subscription's current period ends now (what a test clock advancing to the period
   * end does, without moving time): a subscription set to cancel at the period end is
   * canceled (`customer.subscription.deleted`); any other moves to a new period starting
   * now (`customer.subscription.updated`) and is billed for it, with any pending proration
   * lines (`invoice.created` → `invoice.finalized` → `invoice.paid` →
   * `invoice.payment_succeeded`). A declined charge leaves the invoice open
   * (`invoice.payment_failed`) and the subscription `past_due`.
   */
  renewSubscription(
    id: string,
    options: { paymentFails?: boolean } = {},
    context?: ChangeContext,
  ): { subscription: FixtureSubscription; invoice: Stripe.Invoice | null } {
    const subscription = this.getSubscription(id);
    if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
      throw invalidRequest(`Subscription ${id} has ended (${subscription.status}).`);
    }
    if (subscription.status === 'incomplete') {
      throw invalidRequest(`Subscription ${id} is incomplete: pay its first invoice first.`);
    }
    const now = this.now();
    const period = subscriptionPeriod(subscription);
    const ends =
      subscription.cancel_at_period_end ||
      (subscription.cancel_at !== null && subscription.cancel_at <= period.end);
    if (ends) {
      subscription.status = 'canceled';
      subscription.ended_at = now;
      subscription.canceled_at = subscription.canceled_at ?? now;
      this.pendingInvoiceLines.delete(id);
      this.emit('customer.subscription.deleted', subscription, undefined, context);
      return { subscription, invoice: null };
    }
    const before = structuredClone(subscription) as unknown as Json;
    // The new period starts now, but always after the old one began: a renewal in the same
    // second as the subscription's start must still be a new period (time has 1 s steps).
    const start = Math.max(now, period.start + 1);
    const invoiceId = stripeId('in');
    const items = subscription.items.data;
    const itemEnds: number[] = [];
    for (const item of items) {
      const end = start + intervalSeconds(item.price);
      itemEnds.push(end);
      const shaped = item as unknown as Json;
      if (
        shaped.current_period_start !== undefined ||
        subscription.current_period_start === undefined
      ) {
        shaped.current_period_start = start;
        shaped.current_period_end = end;
      }
    }
    const newEnd = itemEnds[0] ?? start + 30 * DAY_SECONDS;
    if (subscription.current_period_start !== undefined) {
      subscription.current_period_start = start;
      subscription.current_period_end = newEnd;
    }
    subscription.billing_cycle_anchor = start;
    if (subscription.status === 'trialing' && (subscription.trial_end ?? 0) <= now) {
      subscription.status = 'active';
    }
    subscription.latest_invoice = invoiceId;
    this.emit(
      'customer.subscription.updated',
      subscription,
      previousAttributes(before, subscription as unknown as Json),
      context,
    );
    const lines = [
      ...(this.pendingInvoiceLines.get(id) ?? []),
      ...items.map((item) =>
        invoiceLineObject({
          invoice: '',
          amount: (item.price.unit_amount ?? 0) * (item.quantity ?? 1),
          price: item.price,
          quantity: item.quantity ?? 1,
          subscription: id,
          subscriptionItem: item.id,
          periodStart: now,
          periodEnd: now + intervalSeconds(item.price),
          description: `${item.quantity ?? 1} × ${this.productName(item.price)}`,
        }),
      ),
    ];
    this.pendingInvoiceLines.delete(id);
    const invoice = this.issueInvoice(
      {
        id: invoiceId,
        customer: String(subscription.customer),
        subscription: id,
        lines,
        billingReason: 'subscription_cycle',
        periodStart: period.start,
        periodEnd: period.end,
        paymentFails: options.paymentFails,
      },
      context,
    );
    if (invoice.status !== 'paid' && subscription.status !== 'past_due') {
      const status = subscription.status;
      subscription.status = 'past_due';
      this.emit('customer.subscription.updated', subscription, { status }, context);
    }
    return { subscription, invoice };
  }

  /** Adds an invoice built elsewhere (factories), without events. */
  seedInvoice(invoice: Stripe.Invoice): Stripe.Invoice {
    return this.store(this.invoices, invoice as Stripe.Invoice & Ordered);
  }

  // -------------------------------------------------------------------------------------
  // Checkout

  /** Creating a session changes no account state, so (as at Stripe) it emits no event. */
  createCheckoutSession(input: CheckoutSessionInput): Stripe.Checkout.Session {
    if (input.customer) this.getCustomer(input.customer, 'customer');
    const prices = input.lineItems.map((item, index) => {
      const price = this.getPrice(item.price, `line_items[${index}][price]`);
      if (input.mode === 'subscription' && !price.recurring) {
        throw parameterInvalid(
          `line_items[${index}][price]`,
          'You must provide at least one recurring price in `subscription` mode when using prices.',
        );
      }
      return price;
    });
    const amount = prices.reduce(
      (sum, price, index) => sum + (price.unit_amount ?? 0) * input.lineItems[index]!.quantity,
      0,
    );
    const session = checkoutSessionObject({
      customer: input.customer ?? null,
      mode: input.mode,
      clientReferenceId: input.clientReferenceId ?? null,
      metadata: input.metadata ?? {},
      successUrl: input.successUrl,
      cancelUrl: input.cancelUrl,
      amountTotal: amount,
      currency: prices[0]?.currency ?? 'usd',
      created: this.now(),
    });
    if (this.checkoutUrl) session.url = this.checkoutUrl(session.id);
    session.customer_email = input.customerEmail ?? null;
    session.customer_details = input.customerEmail
      ? {
          ...(session.customer_details as Stripe.Checkout.Session.CustomerDetails),
          email: input.customerEmail,
        }
      : null;
    this.store(this.checkoutSessions, session);
    this.checkoutInputs.set(session.id, structuredClone(input));
    return session;
  }

  /** What the session was created with (line items, …), for the hosted page. */
  checkoutInput(id: string): CheckoutSessionInput | undefined {
    const input = this.checkoutInputs.get(id);
    return input ? structuredClone(input) : undefined;
  }

  getCheckoutSession(id: string): Stripe.Checkout.Session {
    const session = this.checkoutSessions.get(id);
    if (!session) throw resourceMissing('checkout.session', id);
    return session;
  }

  /**
   * What happens when the customer pays on the hosted page: the customer (if new) and the
   * subscription are created, the session completes, `checkout.session.completed` is emitted.
   */
  completeCheckoutSession(id: string, context?: ChangeContext): Stripe.Checkout.Session {
    const session = this.getCheckoutSession(id);
    const input = this.checkoutInputs.get(id);
    if (session.status !== 'open' || !input)
      throw invalidRequest(`Checkout session ${id} is not open.`);
    const customer =
      input.customer ??
      this.createCustomer(
        { email: input.customerEmail ?? null, userId: input.clientReferenceId },
        context,
      ).id;
    session.customer = customer;
    if (input.mode === 'subscription') {
      const subscription = this.createSubscription(
        {
          customer,
          items: input.lineItems,
          metadata: input.subscriptionMetadata ?? {},
          initialStatus: 'incomplete',
          // The card was just entered on the hosted page and accepted.
          paymentFails: false,
        },
        context,
      );
      session.subscription = subscription.id;
      session.invoice =
        typeof subscription.latest_invoice === 'string' ? subscription.latest_invoice : null;
    }
    session.status = 'complete';
    session.payment_status = 'paid';
    session.url = null;
    this.emit('checkout.session.completed', session, undefined, context);
    return session;
  }

  // -------------------------------------------------------------------------------------
  // Billing meter events

  /**
   * Records a meter event. The identifier is unique within Stripe's rolling window: a
   * repeat is accepted and counted once (the first one stands).
   */
  recordMeterEvent(input: {
    eventName: string;
    payload: Record<string, string>;
    identifier?: string;
    timestamp?: number;
  }): Stripe.Billing.MeterEvent {
    const now = this.now();
    const timestamp = input.timestamp ?? now;
    if (timestamp < now - METER_EVENT_MAX_AGE || timestamp > now + METER_EVENT_MAX_FUTURE) {
      throw parameterInvalid(
        'timestamp',
        'Timestamp must be within the past 35 calendar days or up to 5 minutes in the future.',
        'timestamp_outside_window',
      );
    }
    if (input.payload.value !== undefined && !/^-?\d+(\.\d+)?$/.test(input.payload.value)) {
      throw parameterInvalid(
        'payload[value]',
        `Invalid value in payload: '${input.payload.value}' is not a number.`,
      );
    }
    const identifier = input.identifier ?? randomUUID();
    const existing = this.meterEvents.get(identifier);
    if (existing) {
      this.meterEventDuplicates++;
      return existing;
    }
    const event = {
      object: 'billing.meter_event' as const,
      created: now,
      event_name: input.eventName,
      identifier,
      livemode: false,
      payload: { ...input.payload },
      timestamp,
    } satisfies Stripe.Billing.MeterEvent;
    this.meterEvents.set(identifier, event);
    return event;
  }
}
