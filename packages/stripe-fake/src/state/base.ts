import type { Stripe } from '@billing/stripe';
import { type FixtureSubscription, type SnapshotEvent, stripeEvent } from '../factories.js';
import { nowSeconds } from '../ids.js';
import type {
  ChangeContext,
  CheckoutSessionInput,
  EventListener,
  FakeStripeSnapshot,
  FakeStripeStateOptions,
  Json,
  Metadata,
  MetadataPatch,
  Ordered,
} from './types.js';

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

export const applyMetadata = (current: Metadata, patch: MetadataPatch | undefined): Metadata => {
  if (patch === null) return {};
  if (patch === undefined) return current;
  const next = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null || value === '') delete next[key];
    else next[key] = value;
  }
  return next;
};

/**
 * The storage of the fake Stripe account, under every resource layer: one map per resource,
 * Stripe's list order, and every change recorded as the snapshot event Stripe would send
 * (`emit`), broadcast to subscribers (the simulator's webhook sender). The resource layers
 * (customers → products → invoices → prorations → subscriptions → billing cycle → checkout →
 * meter events) each add one resource's operations on top; `FakeStripeState` is the last.
 */
export abstract class StateBase {
  readonly customers = new Map<string, Stripe.Customer>();
  readonly products = new Map<string, Stripe.Product>();
  readonly prices = new Map<string, Stripe.Price>();
  readonly subscriptions = new Map<string, FixtureSubscription>();
  readonly invoices = new Map<string, Stripe.Invoice>();
  readonly checkoutSessions = new Map<string, Stripe.Checkout.Session>();
  /** One per paid invoice (what `GET /v1/invoice_payments/:id` re-reads). */
  readonly invoicePayments = new Map<string, Stripe.InvoicePayment>();
  readonly subscriptionSchedules = new Map<string, Stripe.SubscriptionSchedule>();
  /** Active entitlements by id; each names its customer in `customerOf`. */
  readonly activeEntitlements = new Map<string, Stripe.Entitlements.ActiveEntitlement>();
  protected readonly entitlementCustomers = new Map<string, string>();
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

  protected readonly checkoutInputs = new Map<string, CheckoutSessionInput>();
  private readonly sequence = new Map<string, number>();
  private nextSequence = 0;
  private readonly clock: () => number;
  protected readonly checkoutUrl: ((sessionId: string) => string) | undefined;
  private readonly maxEvents: number | undefined;
  private readonly listeners = new Set<EventListener>();
  /** Customers whose card declines every charge (`setCardDeclines`). */
  protected readonly decliningCustomers = new Set<string>();
  /**
   * Proration lines a `create_prorations` change left for the subscription's next invoice
   * (Stripe's pending invoice items), per subscription.
   */
  protected readonly pendingInvoiceLines = new Map<string, Json[]>();

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
    this.entitlementCustomers.clear();
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
      invoicePayments: [...this.invoicePayments.values()],
      subscriptionSchedules: [...this.subscriptionSchedules.values()],
      activeEntitlements: [...this.activeEntitlements.values()].map((entitlement) => ({
        customer: this.entitlementCustomers.get(entitlement.id) ?? '',
        entitlement,
      })),
    });
  }

  /** Loads what `toJSON()` wrote into this (empty) state. Restoring records no events. */
  protected restore(snapshot: FakeStripeSnapshot): void {
    if (snapshot.version !== 1)
      throw new Error(`unsupported state snapshot version ${String(snapshot.version)}`);
    const copy = structuredClone(snapshot);
    for (const [id, position] of copy.sequence) this.sequence.set(id, position);
    this.nextSequence = copy.sequence.reduce((max, [, position]) => Math.max(max, position + 1), 0);
    const load = <T extends Ordered>(map: Map<string, T>, items: T[]) => {
      for (const item of items) this.store(map, item);
    };
    load(this.customers, copy.customers);
    load(this.products, copy.products);
    load(this.prices, copy.prices);
    load(this.subscriptions, copy.subscriptions);
    load(this.invoices, copy.invoices as Array<Stripe.Invoice & Ordered>);
    load(this.checkoutSessions, copy.checkoutSessions);
    load(this.events, copy.events as Array<SnapshotEvent & Ordered>);
    for (const id of copy.failedDeliveries) this.failedDeliveries.add(id);
    for (const id of copy.deletedCustomers) this.deletedCustomers.add(id);
    for (const event of copy.meterEvents) this.meterEvents.set(event.identifier, event);
    this.meterEventDuplicates = copy.meterEventDuplicates;
    for (const [id, input] of copy.checkoutInputs) this.checkoutInputs.set(id, input);
    for (const id of copy.decliningCustomers) this.decliningCustomers.add(id);
    for (const [id, lines] of copy.pendingInvoiceLines) this.pendingInvoiceLines.set(id, lines);
    // State files written before these resources existed simply have none.
    load(this.invoicePayments, copy.invoicePayments ?? []);
    load(this.subscriptionSchedules, copy.subscriptionSchedules ?? []);
    for (const { customer, entitlement } of copy.activeEntitlements ?? []) {
      this.store(this.activeEntitlements, entitlement);
      this.entitlementCustomers.set(entitlement.id, customer);
    }
  }

  private maps(): Array<Map<string, Ordered>> {
    return [
      this.customers,
      this.products,
      this.prices,
      this.subscriptions,
      this.invoices,
      this.checkoutSessions,
      this.invoicePayments,
      this.subscriptionSchedules,
      this.activeEntitlements,
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

  protected store<T extends Ordered>(map: Map<string, T>, object: T): T {
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

  /** Deleting a customer cancels its subscriptions (the subscriptions layer). */
  abstract cancelSubscription(id: string, context?: ChangeContext): FixtureSubscription;
}
