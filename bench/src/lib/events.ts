import {
  customerObject,
  invoiceObject,
  priceObject,
  signStripePayload,
  stripeEvent,
  subscriptionObject,
} from '@billing/stripe-fake';

/** The three families of the generated traffic, roughly Stripe's own mix for a SaaS account. */
export type EventKind = 'customer' | 'subscription' | 'invoice';

export interface BuiltEvent {
  id: string;
  type: string;
  kind: EventKind;
  /** The Stripe object the event is about (cus_…, sub_…, in_…). */
  objectId: string;
  customerId: string;
  userId: string;
  /** Stripe's `created`, unix seconds; strictly increasing along the generated sequence. */
  created: number;
  /** The body exactly as it is signed and sent (pretty-printed, as Stripe sends it). */
  body: string;
}

export interface SignedEvent extends BuiltEvent {
  /** Stripe-Signature header value. */
  signature: string;
}

export interface EventSetOptions {
  /** Letters and digits; makes every id of this set unique across runs. */
  runId: string;
  /** Size of the customer pool the events are spread over. Default count / 4. */
  customers?: number;
  /** `created` of the first event; each next event is one second later. */
  startCreated?: number;
  /** Cycle of kinds; default 2 customer : 2 subscription : 1 invoice. */
  kinds?: readonly EventKind[];
  /** Offset of the first event in the sequence (to build a long set in slices). */
  offset?: number;
}

const DEFAULT_KINDS: readonly EventKind[] = [
  'customer',
  'subscription',
  'customer',
  'subscription',
  'invoice',
];
const SUBSCRIPTION_STATUSES = [
  'active',
  'past_due',
  'active',
  'unpaid',
  'active',
  'trialing',
] as const;

/** The plan list's `pro_monthly` price, as Stripe renders it inside subscriptions and invoices. */
const PRO_MONTHLY = priceObject({
  id: 'price_bench_pro_monthly',
  lookupKey: 'pro_monthly',
  unitAmount: 2900,
});

/**
 * Realistic webhook deliveries built with the shared Stripe factories (fixtures3.json shapes
 * and sizes): `customer.updated`, `customer.subscription.updated` (status changes) and
 * `invoice.finalized` / `invoice.paid` pairs, spread over a pool of customers, each event with
 * a unique id and a later `created` than the one before it.
 */
export function buildEvents(count: number, options: EventSetOptions): BuiltEvent[] {
  const { runId } = options;
  if (!/^[A-Za-z0-9]+$/.test(runId)) throw new Error('runId: letters and digits only');
  const pool = Math.max(1, options.customers ?? Math.ceil(count / 4));
  const kinds = options.kinds ?? DEFAULT_KINDS;
  const start = options.startCreated ?? Math.floor(Date.now() / 1000) - count;
  const offset = options.offset ?? 0;
  const out: BuiltEvent[] = [];
  for (let n = offset; n < offset + count; n++) {
    const c = n % pool;
    // How many times this customer was picked before: drives the object's own history.
    const turn = Math.floor(n / pool);
    const customerId = `cus_${runId}c${c}`;
    const userId = `user_${runId}_${c}`;
    const kind = kinds[(c + turn) % kinds.length]!;
    const created = start + n;
    const id = `evt_${runId}e${n}`;
    let type: string;
    let objectId: string;
    let object: unknown;
    if (kind === 'customer') {
      type = turn === 0 ? 'customer.created' : 'customer.updated';
      objectId = customerId;
      object = customerObject({
        id: customerId,
        userId,
        email: `${userId}.${turn}@example.com`,
        name: `Customer ${c} v${turn}`,
        created: start,
      });
    } else if (kind === 'subscription') {
      type = 'customer.subscription.updated';
      objectId = `sub_${runId}s${c}`;
      object = subscriptionObject({
        id: objectId,
        customer: customerId,
        userId,
        price: PRO_MONTHLY,
        quantity: 1 + (turn % 3),
        status: SUBSCRIPTION_STATUSES[turn % SUBSCRIPTION_STATUSES.length],
        currentPeriodStart: start,
        created: start,
      });
    } else {
      // Invoices come in pairs: finalized (open), then paid.
      const paid = turn % 2 === 1;
      type = paid ? 'invoice.paid' : 'invoice.finalized';
      objectId = `in_${runId}i${c}x${Math.floor(turn / 2)}`;
      object = invoiceObject({
        id: objectId,
        customer: customerId,
        subscription: `sub_${runId}s${c}`,
        price: PRO_MONTHLY,
        status: paid ? 'paid' : 'open',
        created,
      });
    }
    const event = stripeEvent({
      id,
      type,
      object,
      created,
      previousAttributes: kind === 'customer' ? { email: null } : undefined,
    });
    out.push({
      id,
      type,
      kind,
      objectId,
      customerId,
      userId,
      created,
      body: JSON.stringify(event, null, 2),
    });
  }
  return out;
}

/** Signs each body with `secret` at `timestamp` (default now), as Stripe signs a delivery. */
export function signEvents(
  events: readonly BuiltEvent[],
  secret: string,
  timestamp = Math.floor(Date.now() / 1000),
): SignedEvent[] {
  return events.map((event) => ({
    ...event,
    signature: signStripePayload(event.body, secret, timestamp),
  }));
}

/** A random id of letters and digits, for run ids and prefixes. */
export function runId(length = 8): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(Math.random() * alphabet.length)];
  return out;
}
