import type Stripe from 'stripe';
import { z } from 'zod';

/** Object families the sync writes; also the values of STRIPE_REFETCH_OBJECTS. */
export const SYNC_FAMILIES = [
  'customer',
  'subscription',
  'invoice',
  'invoice_payment',
  'price',
  'product',
  'plan',
  'subscription_schedule',
  'entitlements',
] as const;
export type SyncFamily = (typeof SYNC_FAMILIES)[number];

/**
 * STRIPE_REFETCH_OBJECTS: a comma-separated list of families that are always re-read from
 * Stripe instead of trusting the payload (e.g. `subscription,invoice`). Empty by default.
 */
export const refetchObjectsSchema = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const names = (value ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    const unknown = names.filter((name) => !(SYNC_FAMILIES as readonly string[]).includes(name));
    if (unknown.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown object type(s) ${unknown.join(', ')}; use ${SYNC_FAMILIES.join(', ')}`,
      });
      return z.NEVER;
    }
    return new Set(names as SyncFamily[]) as ReadonlySet<SyncFamily>;
  });

export interface Refetcher {
  /** The object as Stripe has it now, or null when Stripe no longer has it (404). */
  retrieve(
    family: SyncFamily,
    id: string,
    account: string | null,
  ): Promise<Record<string, unknown> | null>;
}

const isNotFound = (error: unknown): boolean => {
  const e = error as { statusCode?: unknown; code?: unknown } | null;
  return !!e && (e.statusCode === 404 || e.code === 'resource_missing');
};

/**
 * Reads objects through the real Stripe client (pinned API version, so the basil+ shape).
 * Events of a connected account are read with `stripeAccount` set to that account.
 * Stripe errors propagate: 429 / 5xx / connection errors are transient and retried.
 */
export function createStripeRefetcher(stripe: Stripe): Refetcher {
  return {
    async retrieve(family, id, account) {
      const options = account ? { stripeAccount: account } : undefined;
      try {
        const object = await retrieveObject(stripe, family, id, options);
        return object as unknown as Record<string, unknown>;
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    },
  };
}

async function retrieveObject(
  stripe: Stripe,
  family: SyncFamily,
  id: string,
  options: { stripeAccount: string } | undefined,
): Promise<unknown> {
  switch (family) {
    case 'customer':
      return stripe.customers.retrieve(id, {}, options);
    case 'subscription':
      return stripe.subscriptions.retrieve(id, {}, options);
    case 'invoice':
      return stripe.invoices.retrieve(id, {}, options);
    case 'invoice_payment':
      return stripe.invoicePayments.retrieve(id, {}, options);
    case 'price':
      return stripe.prices.retrieve(id, {}, options);
    case 'product':
      return stripe.products.retrieve(id, {}, options);
    case 'plan':
      return stripe.plans.retrieve(id, {}, options);
    case 'subscription_schedule':
      return stripe.subscriptionSchedules.retrieve(id, {}, options);
    case 'entitlements': {
      // The summary has no endpoint of its own: rebuild it from the full list (the event's
      // copy is truncated after one page).
      const data = await stripe.entitlements.activeEntitlements
        .list({ customer: id, limit: 100 }, options)
        .autoPagingToArray({ limit: 10_000 });
      return {
        object: 'entitlements.active_entitlement_summary',
        customer: id,
        entitlements: { object: 'list', data, has_more: false },
      };
    }
  }
}
