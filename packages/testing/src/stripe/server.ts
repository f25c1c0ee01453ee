import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createStripeClient, STRIPE_API_VERSION, type Stripe } from '@billing/stripe';
import { createBillingPortalSession } from './billing-portal.js';
import { invalidRequest, parameterMissing, resourceMissing, StripeApiError } from './errors.js';
import { stripeId } from './ids.js';
import {
  bool,
  decodeForm,
  expandPaths,
  int,
  type ListParams,
  listParams,
  metadata,
  newMetadata,
  nullableStr,
  object,
  objectList,
  oneOf,
  type Params,
  rangeFilter,
  requiredStr,
  str,
  stringList,
} from './params.js';
import { type ChangeContext, FakeStripeState, type SubscriptionItemChange } from './state.js';

/**
 * A fake Stripe API over HTTP for the real `stripe` client (form-encoded requests, Stripe's
 * JSON objects, lists, errors, idempotency and retries), so tests exercise the production
 * Stripe code path with no mocks. State lives in a FakeStripeState; every request is
 * recorded; faults (429/5xx/connection resets) can be injected.
 */

export interface FakeStripeOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** The key the returned client uses; any `sk_`/`rk_` key is accepted. */
  secretKey?: string;
  /** For the returned client; default 2, as createStripeClient. */
  maxNetworkRetries?: number;
  /** Share a state between servers, or pre-seed one. */
  state?: FakeStripeState;
  /**
   * Serves every request outside `/v1/` first (the simulator's hosted checkout page and
   * `/_simulator` API); calling `next()` falls through to the fake API (a 404 there).
   */
  extension?: (req: http.IncomingMessage, res: http.ServerResponse, next: () => void) => void;
  /** Keep only the newest this many `requests` (a long-running simulator). Default: all. */
  maxRecordedRequests?: number;
  /** Called after every answered API request (e.g. to persist state after a change). */
  onResponse?: (request: RecordedRequest) => void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Params;
  /** Form-decoded body (`items[0][price]` → `{ items: [{ price }] }`). */
  body: Params;
  /** Lower-case names. */
  headers: Record<string, string>;
  idempotencyKey: string | undefined;
  /** Response status; 0 for a connection reset. */
  status: number;
  /** Answered from the idempotency cache. */
  replayed: boolean;
  /** Answered by an injected fault (failNext). */
  injected: boolean;
}

export interface FaultOptions {
  /** Only requests whose path starts with this string (or matches this RegExp). */
  path?: string | RegExp;
  method?: string;
  /** Sets `Stripe-Should-Retry`, which the client obeys over its own rules. */
  shouldRetry?: boolean;
  /** `Retry-After` seconds on a 429 (default 1). */
  retryAfterSeconds?: number;
  code?: string;
  message?: string;
}

/** A status, or `'connection-reset'` to drop the socket without answering. */
export type FaultKind = number | 'connection-reset';

interface Fault extends FaultOptions {
  remaining: number;
  kind: FaultKind;
}

export interface FakeStripe {
  url: string;
  port: number;
  /** A real Stripe client (createStripeClient) pointed at this server. */
  stripe: Stripe;
  requests: RecordedRequest[];
  state: FakeStripeState;
  /**
   * The next `count` requests that match answer with `kind` instead of being served.
   * The client retries 5xx, 409 and connection resets by itself (with the same
   * Idempotency-Key); a 429 only when `shouldRetry` is set. Each attempt is in `requests`.
   */
  failNext(count: number, kind: FaultKind, options?: FaultOptions): void;
  /** Requests to `method` + path prefix, in order. */
  requestsTo(method: string, pathPrefix?: string): RecordedRequest[];
  /** Clears state, recorded requests, pending faults and the idempotency cache. */
  reset(): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

interface RouteContext {
  params: Params;
  path: Record<string, string>;
  change: ChangeContext;
  state: FakeStripeState;
}

type Handler = (context: RouteContext) => unknown;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

const route = (method: string, template: string, handler: Handler): Route => {
  const names: string[] = [];
  const source = template.replace(/:(\w+)/g, (_match, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { method, pattern: new RegExp(`^${source}$`), names, handler };
};

interface Ordered {
  id: string;
  created?: number;
}

/** Stripe's cursor pagination over a filtered, newest-first list. */
function paginate<T extends Ordered>(
  state: FakeStripeState,
  items: Iterable<T>,
  filter: (item: T) => boolean,
  page: ListParams,
  url: string,
  kind: string,
): { object: 'list'; data: T[]; has_more: boolean; url: string } {
  // The cursor is located in the unfiltered list, so a cursor that a filter would hide
  // still marks a position (as at Stripe); an id that is not in the collection is a 400.
  const ordered = state.sorted(items);
  const cursorId = page.startingAfter ?? page.endingBefore;
  let data: T[];
  let hasMore: boolean;
  if (cursorId) {
    const at = ordered.findIndex((item) => item.id === cursorId);
    if (at === -1) {
      throw resourceMissing(
        kind,
        cursorId,
        page.startingAfter ? 'starting_after' : 'ending_before',
      );
    }
    if (page.startingAfter) {
      // Newest first: "after" the cursor means older than it.
      const rest = ordered.slice(at + 1).filter(filter);
      data = rest.slice(0, page.limit);
      hasMore = rest.length > page.limit;
    } else {
      const newer = ordered.slice(0, at).filter(filter);
      data = newer.slice(Math.max(0, newer.length - page.limit));
      hasMore = newer.length > page.limit;
    }
  } else {
    const all = ordered.filter(filter);
    data = all.slice(0, page.limit);
    hasMore = all.length > page.limit;
  }
  return { object: 'list', data, has_more: hasMore, url };
}

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Replaces id strings on `expand[]` paths (`customer`, `data.product`, `items.data.price.product`) by the objects. */
function expand<T>(state: FakeStripeState, body: T, paths: string[]): T {
  if (paths.length === 0) return body;
  const copy = structuredClone(body);
  const walk = (target: unknown, segments: string[]): void => {
    if (Array.isArray(target)) {
      for (const entry of target) walk(entry, segments);
      return;
    }
    const [head, ...rest] = segments;
    if (!isObject(target) || head === undefined) return;
    const value = target[head];
    if (typeof value === 'string') {
      const found = state.find(value);
      if (found) target[head] = structuredClone(found);
    }
    if (rest.length > 0) walk(target[head], rest);
  };
  for (const path of paths) walk(copy, path.split('.'));
  return copy;
}

const typeMatches = (pattern: string, type: string): boolean =>
  pattern.endsWith('.*') ? type.startsWith(pattern.slice(0, -1)) : pattern === type;

// ---------------------------------------------------------------------------------------
// Customer search: `email:'a@b.c' AND metadata['user_id']:'42'` (exact `:` and substring `~`).

function customerSearch(query: string): (customer: Stripe.Customer) => boolean {
  const clauses = query.split(/\s+AND\s+/i).map((clause) => {
    const match =
      /^\s*(email|name|phone|description|metadata\[['"]([^'"]+)['"]\])\s*([:~])\s*['"](.*)['"]\s*$/.exec(
        clause,
      );
    if (!match) throw invalidRequest(`Invalid query: could not parse \`${clause}\`.`, 'query');
    const [, field, metadataKey, operator, value] = match;
    return (customer: Stripe.Customer) => {
      const raw = metadataKey
        ? customer.metadata[metadataKey]
        : (customer as unknown as Record<string, unknown>)[field as string];
      if (typeof raw !== 'string') return false;
      return operator === ':'
        ? raw === value
        : raw.toLowerCase().includes((value ?? '').toLowerCase());
    };
  });
  return (customer) => clauses.every((clause) => clause(customer));
}

// ---------------------------------------------------------------------------------------
// Routes

function itemChanges(
  list: Params[] | undefined,
  prefix: string,
): SubscriptionItemChange[] | undefined {
  return list?.map((item, index) => {
    const quantity = int(item, 'quantity', { min: 0 });
    const change: SubscriptionItemChange = {
      id: str(item, 'id') || undefined,
      price: str(item, 'price') || undefined,
      quantity,
      deleted: bool(item, 'deleted'),
      metadata: metadata(item),
    };
    if (!change.id && !change.price && !change.deleted)
      throw parameterMissing(`${prefix}[${index}][price]`);
    return change;
  });
}

const routes: Route[] = [
  // Customers
  route('POST', '/v1/customers', ({ params, state, change }) =>
    state.createCustomer(
      {
        email: nullableStr(params, 'email') ?? null,
        name: nullableStr(params, 'name') ?? null,
        description: nullableStr(params, 'description') ?? null,
        phone: nullableStr(params, 'phone') ?? null,
        metadata: newMetadata(params),
      },
      change,
    ),
  ),
  route('GET', '/v1/customers/search', ({ params, state }) => {
    const query = requiredStr(params, 'query');
    const limit = int(params, 'limit', { min: 1, max: 100 }) ?? 10;
    const page = str(params, 'page');
    let offset = 0;
    if (page) {
      offset = Number(Buffer.from(page, 'base64url').toString('utf8'));
      if (!Number.isInteger(offset) || offset < 0)
        throw invalidRequest('Invalid page token.', 'page');
    }
    const matches = state.sorted([...state.customers.values()].filter(customerSearch(query)));
    const data = matches.slice(offset, offset + limit);
    const more = offset + limit < matches.length;
    return {
      object: 'search_result',
      data,
      has_more: more,
      next_page: more ? Buffer.from(String(offset + limit)).toString('base64url') : null,
      url: '/v1/customers/search',
    };
  }),
  route('GET', '/v1/customers/:id', ({ path, state }) =>
    state.deletedCustomers.has(path.id!)
      ? { id: path.id!, object: 'customer', deleted: true }
      : state.getCustomer(path.id!),
  ),
  route('POST', '/v1/customers/:id', ({ path, params, state, change }) =>
    state.updateCustomer(
      path.id!,
      {
        email: nullableStr(params, 'email'),
        name: nullableStr(params, 'name'),
        description: nullableStr(params, 'description'),
        phone: nullableStr(params, 'phone'),
        metadata: metadata(params),
      },
      change,
    ),
  ),
  route('DELETE', '/v1/customers/:id', ({ path, state, change }) =>
    state.deleteCustomer(path.id!, change),
  ),
  route('GET', '/v1/customers', ({ params, state }) => {
    const email = str(params, 'email');
    const created = rangeFilter(params, 'created');
    return paginate(
      state,
      state.customers.values(),
      (customer) =>
        (email === undefined || customer.email === email) &&
        (!created || created(customer.created)),
      listParams(params),
      '/v1/customers',
      'customer',
    );
  }),

  // Products
  route('POST', '/v1/products', ({ params, state, change }) =>
    state.createProduct(
      {
        name: requiredStr(params, 'name'),
        description: nullableStr(params, 'description') ?? null,
        active: bool(params, 'active'),
        metadata: newMetadata(params),
        id: str(params, 'id') || undefined,
      },
      change,
    ),
  ),
  route('GET', '/v1/products/:id', ({ path, state }) => state.getProduct(path.id!)),
  route('POST', '/v1/products/:id', ({ path, params, state, change }) =>
    state.updateProduct(
      path.id!,
      {
        name: str(params, 'name'),
        active: bool(params, 'active'),
        description: nullableStr(params, 'description'),
        defaultPrice: nullableStr(params, 'default_price'),
        metadata: metadata(params),
      },
      change,
    ),
  ),
  route('GET', '/v1/products', ({ params, state }) => {
    const active = bool(params, 'active');
    const ids = stringList(params, 'ids');
    return paginate(
      state,
      state.products.values(),
      (product) =>
        (active === undefined || product.active === active) && (!ids || ids.includes(product.id)),
      listParams(params),
      '/v1/products',
      'product',
    );
  }),

  // Prices
  route('POST', '/v1/prices', ({ params, state, change }) => {
    let product = str(params, 'product');
    const productData = object(params, 'product_data');
    if (!product && productData) {
      product = state.createProduct(
        { name: requiredStr(productData, 'name'), metadata: newMetadata(productData) },
        change,
      ).id;
    }
    if (!product) throw parameterMissing('product');
    const currency = requiredStr(params, 'currency').toLowerCase();
    const unitAmount = int(params, 'unit_amount', { min: 0 });
    if (unitAmount === undefined) throw parameterMissing('unit_amount');
    const recurring = object(params, 'recurring');
    const interval = recurring
      ? oneOf(recurring, 'interval', ['day', 'week', 'month', 'year'] as const)
      : undefined;
    if (recurring && !interval) throw parameterMissing('recurring[interval]');
    return state.createPrice(
      {
        product,
        currency,
        unitAmount,
        interval: interval ?? null,
        intervalCount: recurring ? int(recurring, 'interval_count', { min: 1 }) : undefined,
        usageType: recurring
          ? oneOf(recurring, 'usage_type', ['licensed', 'metered'] as const)
          : undefined,
        lookupKey: str(params, 'lookup_key') || null,
        transferLookupKey: bool(params, 'transfer_lookup_key'),
        nickname: nullableStr(params, 'nickname') ?? null,
        active: bool(params, 'active'),
        metadata: newMetadata(params),
      },
      change,
    );
  }),
  route('GET', '/v1/prices/:id', ({ path, state }) => state.getPrice(path.id!)),
  route('POST', '/v1/prices/:id', ({ path, params, state, change }) =>
    state.updatePrice(
      path.id!,
      {
        active: bool(params, 'active'),
        nickname: nullableStr(params, 'nickname'),
        lookupKey: nullableStr(params, 'lookup_key'),
        metadata: metadata(params),
      },
      change,
    ),
  ),
  route('GET', '/v1/prices', ({ params, state }) => {
    const lookupKeys = stringList(params, 'lookup_keys');
    const active = bool(params, 'active');
    const product = str(params, 'product');
    const type = oneOf(params, 'type', ['one_time', 'recurring'] as const);
    const currency = str(params, 'currency');
    const created = rangeFilter(params, 'created');
    const recurring = object(params, 'recurring');
    const interval = recurring ? str(recurring, 'interval') : undefined;
    return paginate(
      state,
      state.prices.values(),
      (price) =>
        (!lookupKeys || (price.lookup_key !== null && lookupKeys.includes(price.lookup_key))) &&
        (active === undefined || price.active === active) &&
        (product === undefined || price.product === product) &&
        (type === undefined || price.type === type) &&
        (currency === undefined || price.currency === currency) &&
        (interval === undefined || price.recurring?.interval === interval) &&
        (!created || created(price.created)),
      listParams(params),
      '/v1/prices',
      'price',
    );
  }),

  // Subscriptions
  route('POST', '/v1/subscriptions', ({ params, state, change }) => {
    const customer = requiredStr(params, 'customer');
    const items = objectList(params, 'items');
    if (!items || items.length === 0) throw parameterMissing('items');
    return state.createSubscription(
      {
        customer,
        items: items.map((item, index) => {
          const price = str(item, 'price');
          if (!price) throw parameterMissing(`items[${index}][price]`);
          return {
            price,
            quantity: int(item, 'quantity', { min: 0 }),
            metadata: newMetadata(item),
          };
        }),
        metadata: newMetadata(params),
        trialPeriodDays: int(params, 'trial_period_days', { min: 0, max: 730 }),
        cancelAtPeriodEnd: bool(params, 'cancel_at_period_end'),
        description: nullableStr(params, 'description') ?? null,
      },
      change,
    );
  }),
  route('GET', '/v1/subscriptions/:id', ({ path, state }) => state.getSubscription(path.id!)),
  route('POST', '/v1/subscriptions/:id', ({ path, params, state, change }) => {
    const trialEnd = str(params, 'trial_end');
    const cancelAt = params.cancel_at === undefined ? undefined : nullableStr(params, 'cancel_at');
    return state.updateSubscription(
      path.id!,
      {
        items: itemChanges(objectList(params, 'items'), 'items'),
        prorationBehavior: oneOf(params, 'proration_behavior', [
          'create_prorations',
          'none',
          'always_invoice',
        ] as const),
        prorationDate: int(params, 'proration_date'),
        cancelAtPeriodEnd: bool(params, 'cancel_at_period_end'),
        cancelAt:
          cancelAt === undefined ? undefined : cancelAt === null ? null : int(params, 'cancel_at'),
        metadata: metadata(params),
        trialEnd:
          trialEnd === undefined
            ? undefined
            : trialEnd === 'now'
              ? 'now'
              : int(params, 'trial_end'),
        description: nullableStr(params, 'description'),
      },
      change,
    );
  }),
  route('DELETE', '/v1/subscriptions/:id', ({ path, state, change }) =>
    state.cancelSubscription(path.id!, change),
  ),
  route('GET', '/v1/subscriptions', ({ params, state }) => {
    const customer = str(params, 'customer');
    const price = str(params, 'price');
    const status = oneOf(params, 'status', [
      'active',
      'all',
      'canceled',
      'ended',
      'incomplete',
      'incomplete_expired',
      'past_due',
      'paused',
      'trialing',
      'unpaid',
    ] as const);
    const created = rangeFilter(params, 'created');
    // Stripe's default hides canceled subscriptions; `status=all` shows every one.
    const statusMatches = (value: Stripe.Subscription.Status) =>
      status === 'all'
        ? true
        : status === undefined
          ? value !== 'canceled' && value !== 'incomplete_expired'
          : status === 'ended'
            ? value === 'canceled' || value === 'incomplete_expired'
            : value === status;
    return paginate(
      state,
      state.subscriptions.values(),
      (subscription) =>
        (customer === undefined || subscription.customer === customer) &&
        statusMatches(subscription.status) &&
        (price === undefined || subscription.items.data.some((item) => item.price.id === price)) &&
        (!created || created(subscription.created)),
      listParams(params),
      '/v1/subscriptions',
      'subscription',
    );
  }),
  route('GET', '/v1/subscription_items', ({ params, state }) => {
    const subscriptionId = requiredStr(params, 'subscription');
    const subscription = state.getSubscription(subscriptionId, 'subscription');
    return paginate(
      state,
      subscription.items.data,
      () => true,
      listParams(params),
      `/v1/subscription_items?subscription=${subscriptionId}`,
      'subscription item',
    );
  }),

  // Invoices
  route('POST', '/v1/invoices/create_preview', ({ params, state }) => {
    const details = object(params, 'subscription_details') ?? {};
    return state.previewInvoice({
      customer: str(params, 'customer') || undefined,
      subscription: str(params, 'subscription') || undefined,
      items: itemChanges(objectList(details, 'items'), 'subscription_details[items]'),
      prorationDate: int(details, 'proration_date'),
      prorationBehavior: oneOf(details, 'proration_behavior', [
        'create_prorations',
        'none',
        'always_invoice',
      ] as const),
    });
  }),
  route('POST', '/v1/invoices/:id/pay', ({ path, state, change }) =>
    state.payInvoice(path.id!, {}, change),
  ),
  route('GET', '/v1/invoices/:id', ({ path, state }) => state.getInvoice(path.id!)),
  route('GET', '/v1/invoices', ({ params, state }) => {
    const customer = str(params, 'customer');
    const subscription = str(params, 'subscription');
    const status = oneOf(params, 'status', [
      'draft',
      'open',
      'paid',
      'uncollectible',
      'void',
    ] as const);
    const created = rangeFilter(params, 'created');
    return paginate(
      state,
      state.invoices.values(),
      (invoice) =>
        (customer === undefined || invoice.customer === customer) &&
        (subscription === undefined ||
          invoice.parent?.subscription_details?.subscription === subscription) &&
        (status === undefined || invoice.status === status) &&
        (!created || created(invoice.created)),
      listParams(params),
      '/v1/invoices',
      'invoice',
    );
  }),

  // Checkout
  route('POST', '/v1/checkout/sessions', ({ params, state }) => {
    const mode = oneOf(params, 'mode', ['payment', 'setup', 'subscription'] as const);
    if (!mode) throw parameterMissing('mode');
    const lineItems = (objectList(params, 'line_items') ?? []).map((item, index) => {
      const price = str(item, 'price');
      if (!price) throw parameterMissing(`line_items[${index}][price]`);
      return { price, quantity: int(item, 'quantity', { min: 1 }) ?? 1 };
    });
    if (mode !== 'setup' && lineItems.length === 0) throw parameterMissing('line_items');
    const subscriptionData = object(params, 'subscription_data');
    const customer = str(params, 'customer') || undefined;
    const customerEmail = str(params, 'customer_email') || undefined;
    if (customer && customerEmail) {
      throw invalidRequest(
        'You may only specify one of these parameters: customer, customer_email.',
      );
    }
    return state.createCheckoutSession({
      mode,
      customer,
      customerEmail,
      clientReferenceId: str(params, 'client_reference_id') || undefined,
      lineItems,
      successUrl: str(params, 'success_url'),
      cancelUrl: str(params, 'cancel_url'),
      metadata: newMetadata(params),
      subscriptionMetadata: subscriptionData ? newMetadata(subscriptionData) : undefined,
    });
  }),
  route('GET', '/v1/checkout/sessions/:id', ({ path, state }) =>
    state.getCheckoutSession(path.id!),
  ),

  // Customer portal
  route('POST', '/v1/billing_portal/sessions', ({ params, state }) =>
    createBillingPortalSession(state, params),
  ),

  // Events
  route('GET', '/v1/events/:id', ({ path, state }) => {
    const event = state.events.get(path.id!);
    if (!event) throw resourceMissing('event', path.id!);
    return event;
  }),
  route('GET', '/v1/events', ({ params, state }) => {
    const type = str(params, 'type');
    const types = stringList(params, 'types');
    if (type && types)
      throw invalidRequest('You may only specify one of these parameters: type, types.');
    const deliverySuccess = bool(params, 'delivery_success');
    const created = rangeFilter(params, 'created');
    return paginate(
      state,
      state.events.values(),
      (event) =>
        (type === undefined || typeMatches(type, event.type)) &&
        (!types || types.some((pattern) => typeMatches(pattern, event.type))) &&
        (deliverySuccess === undefined ||
          state.failedDeliveries.has(event.id) !== deliverySuccess) &&
        (!created || created(event.created)),
      listParams(params),
      '/v1/events',
      'event',
    );
  }),

  // Billing meter events
  route('POST', '/v1/billing/meter_events', ({ params, state }) => {
    const payload = object(params, 'payload');
    if (!payload) throw parameterMissing('payload');
    const values: Record<string, string> = {};
    for (const [key, value] of Object.entries(payload)) {
      if (typeof value !== 'string')
        throw invalidRequest(`Invalid payload[${key}]: must be a string.`, `payload[${key}]`);
      values[key] = value;
    }
    return state.recordMeterEvent({
      eventName: requiredStr(params, 'event_name'),
      payload: values,
      identifier: str(params, 'identifier') || undefined,
      timestamp: int(params, 'timestamp'),
    });
  }),
];

// ---------------------------------------------------------------------------------------
// Server

const readBody = (req: http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

const flattenHeaders = (headers: http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined)
      out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
};

const faultMatches = (fault: Fault, method: string, path: string): boolean =>
  fault.remaining > 0 &&
  (fault.method === undefined || fault.method.toUpperCase() === method) &&
  (fault.path === undefined ||
    (typeof fault.path === 'string' ? path.startsWith(fault.path) : fault.path.test(path)));

const faultError = (fault: Fault, status: number): StripeApiError => {
  if (status === 429) {
    return new StripeApiError(
      429,
      'invalid_request_error',
      fault.message ??
        'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
      fault.code ?? 'rate_limit',
    );
  }
  if (status === 409) {
    return new StripeApiError(
      409,
      'invalid_request_error',
      fault.message ?? 'Conflict.',
      fault.code ?? 'lock_timeout',
    );
  }
  if (status >= 500) {
    return new StripeApiError(
      status,
      'api_error',
      fault.message ?? 'An unknown error occurred (injected by the fake Stripe server).',
      fault.code,
    );
  }
  return new StripeApiError(
    status,
    'invalid_request_error',
    fault.message ?? `Injected ${status}.`,
    fault.code,
  );
};

interface CachedResponse {
  fingerprint: string;
  status: number;
  body: string;
}

export async function startFakeStripe(options: FakeStripeOptions = {}): Promise<FakeStripe> {
  const state = options.state ?? new FakeStripeState();
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const idempotency = new Map<string, CachedResponse>();

  const send = (
    res: http.ServerResponse,
    record: RecordedRequest,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ) => {
    record.status = status;
    options.onResponse?.(record);
    res.writeHead(status, {
      'content-type': 'application/json',
      'request-id': headers['request-id'] ?? stripeId('req', 14),
      'stripe-version': record.headers['stripe-version'] ?? STRIPE_API_VERSION,
      ...(record.idempotencyKey ? { 'idempotency-key': record.idempotencyKey } : {}),
      ...headers,
    });
    res.end(body);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const raw = await readBody(req);
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://fake-stripe.local');
    const headers = flattenHeaders(req.headers);
    const contentType = headers['content-type'] ?? '';
    const record: RecordedRequest = {
      method,
      path: url.pathname,
      query: decodeForm(url.search.slice(1)),
      body: contentType.startsWith('application/x-www-form-urlencoded') ? decodeForm(raw) : {},
      headers,
      idempotencyKey: headers['idempotency-key'],
      status: 0,
      replayed: false,
      injected: false,
    };
    requests.push(record);
    if (
      options.maxRecordedRequests !== undefined &&
      requests.length > options.maxRecordedRequests
    ) {
      requests.splice(0, requests.length - options.maxRecordedRequests);
    }
    const requestId = stripeId('req', 14);
    const fail = (error: StripeApiError, extra: Record<string, string> = {}) =>
      send(res, record, error.status, JSON.stringify(error.toBody(), null, 2), {
        'request-id': requestId,
        ...extra,
      });

    // 1. Authentication, as Stripe checks it first.
    const auth = headers.authorization ?? '';
    // Bearer, or Basic with the key as the user name (`curl -u sk_test_…:`), as Stripe accepts.
    const basic = /^Basic\s+(\S+)$/i.exec(auth)?.[1];
    const key =
      /^Bearer\s+(\S+)$/i.exec(auth)?.[1] ??
      (basic
        ? Buffer.from(basic, 'base64').toString('utf8').split(':')[0] || undefined
        : undefined);
    if (!key) {
      return fail(
        new StripeApiError(
          401,
          'invalid_request_error',
          'You did not provide an API key. Provide your API key in the Authorization header, using Bearer auth.',
        ),
      );
    }
    if (!/^(sk|rk)_/.test(key)) {
      return fail(
        new StripeApiError(
          401,
          'invalid_request_error',
          `Invalid API Key provided: ${key.slice(0, 8)}****`,
          'api_key_invalid',
        ),
      );
    }

    // 2. Injected faults stand in for the network and Stripe's front door: not cached.
    const fault = faults.find((candidate) => faultMatches(candidate, method, url.pathname));
    if (fault) {
      fault.remaining--;
      record.injected = true;
      if (fault.kind === 'connection-reset') {
        record.status = 0;
        req.socket.destroy();
        return;
      }
      const extra: Record<string, string> = {};
      if (fault.shouldRetry !== undefined) extra['stripe-should-retry'] = String(fault.shouldRetry);
      if (fault.kind === 429) extra['retry-after'] = String(fault.retryAfterSeconds ?? 1);
      return fail(faultError(fault, fault.kind), extra);
    }

    // 3. Idempotency: the same key on a POST replays the first response; other parameters are an error.
    const idempotencyKey = method === 'POST' ? record.idempotencyKey : undefined;
    const fingerprint = `${method} ${url.pathname} ${raw}`;
    if (idempotencyKey) {
      const cached = idempotency.get(idempotencyKey);
      if (cached) {
        if (cached.fingerprint !== fingerprint) {
          return fail(
            new StripeApiError(
              400,
              'idempotency_error',
              `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            ),
          );
        }
        record.replayed = true;
        return send(res, record, cached.status, cached.body, {
          'idempotent-replayed': 'true',
          'original-request': requestId,
        });
      }
    }

    // 4. Route.
    const params = method === 'POST' ? record.body : record.query;
    let matchedPath = false;
    for (const candidate of routes) {
      const match = candidate.pattern.exec(url.pathname);
      if (!match) continue;
      matchedPath = true;
      if (candidate.method !== method) continue;
      const path: Record<string, string> = {};
      candidate.names.forEach((name, index) => {
        path[name] = decodeURIComponent(match[index + 1] ?? '');
      });
      try {
        const change: ChangeContext = {
          requestId,
          idempotencyKey: idempotencyKey ?? null,
          account: headers['stripe-account'],
        };
        const result = candidate.handler({ params, path, change, state });
        const body = JSON.stringify(expand(state, result, expandPaths(params)), null, 2);
        // Only requests that ran are saved for replay (Stripe does not save validation failures).
        if (idempotencyKey) idempotency.set(idempotencyKey, { fingerprint, status: 200, body });
        return send(res, record, 200, body, { 'request-id': requestId });
      } catch (error) {
        if (error instanceof StripeApiError) return fail(error);
        return fail(
          new StripeApiError(500, 'api_error', `Fake Stripe failed: ${(error as Error).message}`),
        );
      }
    }
    return fail(
      new StripeApiError(
        404,
        'invalid_request_error',
        matchedPath
          ? `Unrecognized request URL (${method}: ${url.pathname}). This method is not supported by the fake Stripe server.`
          : `Unrecognized request URL (${method}: ${url.pathname}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      ),
    );
  };

  const server = http.createServer((req, res) => {
    const extension = options.extension;
    if (extension && !(req.url ?? '/').startsWith('/v1/')) {
      extension(req, res, () => serve(req, res));
      return;
    }
    serve(req, res);
  });
  const serve = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'api_error', message: String(error) } }));
      }
    });
  };
  server.keepAliveTimeout = 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  const stripe = createStripeClient({
    secretKey: options.secretKey ?? 'sk_test_fake_stripe_server',
    apiBase: url,
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
  });

  return {
    url,
    port,
    stripe,
    requests,
    state,
    failNext(count, kind, faultOptions = {}) {
      faults.push({ ...faultOptions, remaining: count, kind });
    },
    requestsTo(method, pathPrefix = '') {
      return requests.filter(
        (request) => request.method === method.toUpperCase() && request.path.startsWith(pathPrefix),
      );
    },
    reset() {
      state.reset();
      requests.length = 0;
      faults.length = 0;
      idempotency.clear();
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
