import { randomUUID } from 'node:crypto';
import type { Stripe } from '@billing/stripe';
import { type BackoffOptions, withRateLimitRetry } from './rate-limit.js';

/** The outcome of one item of a batch: its value, or why it failed (the batch goes on). */
export type ItemResult<T> =
  | { id: string; ok: true; value: T }
  | { id: string; ok: false; error: { code: string; message: string; statusCode?: number } };

const failure = (id: string, error: unknown): ItemResult<never> => {
  const e = error as { code?: unknown; type?: unknown; statusCode?: unknown; message?: unknown };
  return {
    id,
    ok: false,
    error: {
      code: typeof e?.code === 'string' ? e.code : typeof e?.type === 'string' ? e.type : 'error',
      message: typeof e?.message === 'string' ? e.message : String(error),
      ...(typeof e?.statusCode === 'number' ? { statusCode: e.statusCode } : {}),
    },
  };
};

/** Runs `task` over `items` with at most `concurrency` in flight; results keep input order. */
export async function mapBounded<I, O>(
  items: readonly I[],
  concurrency: number,
  task: (item: I, index: number) => Promise<O>,
): Promise<O[]> {
  const results = new Array<O>(items.length);
  let next = 0;
  const lanes = Array.from(
    { length: Math.max(1, Math.min(concurrency, items.length)) },
    async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await task(items[index] as I, index);
      }
    },
  );
  await Promise.all(lanes);
  return results;
}

export interface RetrieveCustomersOptions {
  /** Requests in flight at once. Default 4 (well under Stripe's per-key limit). */
  concurrency?: number;
  backoff?: BackoffOptions;
}

/**
 * Retrieves many customers with bounded concurrency; each request backs off on 429
 * (honouring Retry-After). One result per id, in order: a missing customer or a request
 * that ran out of retries is a failed item, not a failed batch.
 */
export async function retrieveCustomers(
  stripe: Stripe,
  ids: readonly string[],
  options: RetrieveCustomersOptions = {},
): Promise<ItemResult<Stripe.Customer | Stripe.DeletedCustomer>[]> {
  return mapBounded(ids, options.concurrency ?? 4, async (id) => {
    try {
      const value = await withRateLimitRetry(() => stripe.customers.retrieve(id), options.backoff);
      return { id, ok: true as const, value };
    } catch (error) {
      return failure(id, error);
    }
  });
}

export interface SubscriptionUpdate {
  id: string;
  params: Stripe.SubscriptionUpdateParams;
  /** Stripe idempotency key; one is generated per item (and reused across its retries) otherwise. */
  idempotencyKey?: string;
}

export const SUBSCRIPTION_BATCH_SIZE = 20;

/**
 * Updates many subscriptions in batches of 20: the items of a batch run concurrently, the
 * next batch starts when the previous one has settled. Each update backs off on 429 and
 * keeps one idempotency key across its retries, so a retry never applies twice.
 * Returns one result per update, in order.
 */
export async function updateSubscriptions(
  stripe: Stripe,
  updates: readonly SubscriptionUpdate[],
  options: { batchSize?: number; backoff?: BackoffOptions } = {},
): Promise<ItemResult<Stripe.Subscription>[]> {
  const size = options.batchSize ?? SUBSCRIPTION_BATCH_SIZE;
  const results: ItemResult<Stripe.Subscription>[] = [];
  for (let start = 0; start < updates.length; start += size) {
    const batch = updates.slice(start, start + size);
    const settled = await Promise.all(
      batch.map(async (update) => {
        const idempotencyKey = update.idempotencyKey ?? `ops-sub-update-${randomUUID()}`;
        try {
          const value = await withRateLimitRetry(
            () => stripe.subscriptions.update(update.id, update.params, { idempotencyKey }),
            options.backoff,
          );
          return { id: update.id, ok: true as const, value };
        } catch (error) {
          return failure(update.id, error);
        }
      }),
    );
    results.push(...settled);
  }
  return results;
}
