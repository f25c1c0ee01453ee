import type { Stripe } from '@billing/stripe';
import type { FixtureSubscription, SnapshotEvent } from '../factories.js';

/**
 * The shapes the fake account's layers share: what callers pass in (camelCase, already
 * validated by the HTTP layer) and what the account stores and saves.
 */

export type Json = Record<string, unknown>;
export type Metadata = Record<string, string>;
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
  invoicePayments?: Stripe.InvoicePayment[];
  subscriptionSchedules?: Stripe.SubscriptionSchedule[];
  activeEntitlements?: Array<{
    customer: string;
    entitlement: Stripe.Entitlements.ActiveEntitlement;
  }>;
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
export interface Ordered {
  id: string;
  created?: number;
}
