import { customers, invoices, prices, products, subscriptions } from '@billing/db';
import type { Stripe } from '@billing/stripe';
import {
  normalizeCustomer,
  normalizeInvoice,
  normalizePrice,
  normalizeProduct,
  normalizeSubscription,
} from '@billing/sync';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Lister } from './paginate.js';
import type { BackfillResource } from './resource-names.js';

export { BACKFILL_RESOURCES, type BackfillResource, isBackfillResource } from './resource-names.js';

export interface ResourceSpec {
  resource: BackfillResource;
  list(stripe: Stripe, account: string | null): Lister<{ id: string }>;
  table: PgTable;
  idColumn: PgColumn;
  /** The object as its row's columns, for drift (the writer's own normaliser). */
  normalize(object: unknown): Record<string, unknown>;
  /** Columns the writer keeps or derives rather than copying from the object. */
  ignore: ReadonlySet<string>;
}

const requestOptions = (account: string | null) =>
  account ? { stripeAccount: account } : undefined;

// Columns never compared: they are derived at write time (plan, user links kept from
// elsewhere) or describe the payload rather than the object (livemode of a fixture).
const ALWAYS_IGNORED = ['livemode', 'userId'];

export const RESOURCE_SPECS: Record<BackfillResource, ResourceSpec> = {
  products: {
    resource: 'products',
    list: (stripe, account) => (params) => stripe.products.list(params, requestOptions(account)),
    table: products,
    idColumn: products.id,
    normalize: (object) => ({ ...normalizeProduct(object) }),
    ignore: new Set(ALWAYS_IGNORED),
  },
  prices: {
    resource: 'prices',
    list: (stripe, account) => (params) => stripe.prices.list(params, requestOptions(account)),
    table: prices,
    idColumn: prices.id,
    normalize: (object) => ({ ...normalizePrice(object) }),
    ignore: new Set(ALWAYS_IGNORED),
  },
  customers: {
    resource: 'customers',
    list: (stripe, account) => (params) => stripe.customers.list(params, requestOptions(account)),
    table: customers,
    idColumn: customers.id,
    normalize: (object) => ({ ...normalizeCustomer(object) }),
    ignore: new Set(ALWAYS_IGNORED),
  },
  subscriptions: {
    resource: 'subscriptions',
    // status=all: canceled and incomplete_expired subscriptions are listed too.
    list: (stripe, account) => (params) =>
      stripe.subscriptions.list({ ...params, status: 'all' }, requestOptions(account)),
    table: subscriptions,
    idColumn: subscriptions.id,
    normalize: (object) => {
      const {
        items: _items,
        itemsComplete: _complete,
        priceLookupKey: _key,
        ...row
      } = normalizeSubscription(object);
      return row;
    },
    ignore: new Set([...ALWAYS_IGNORED, 'planId']),
  },
  invoices: {
    resource: 'invoices',
    list: (stripe, account) => (params) => stripe.invoices.list(params, requestOptions(account)),
    table: invoices,
    idColumn: invoices.id,
    normalize: (object) => {
      const { subscriptionUserId: _user, ...row } = normalizeInvoice(object);
      return row;
    },
    ignore: new Set([...ALWAYS_IGNORED, 'lastPaymentError']),
  },
};
