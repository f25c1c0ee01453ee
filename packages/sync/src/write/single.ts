import type { SyncContext, SyncResult, WriteSource } from '../context.js';
import type { SyncFamily } from '../refetch.js';
import {
  type BatchWrite,
  fetchFresh,
  prepareBatch,
  RefetchNeeded,
  refetchesBefore,
  writeBatch,
} from './batch.js';
import { executorRunner } from './runner.js';

/** Rounds of Stripe re-reads a tie may take before the deterministic pick stands. */
export const MAX_REFETCH_ROUNDS = 3;

/**
 * One object through the batch writer, inside the caller's (Drizzle) transaction: the path of
 * the backfill and of callers that write one object at a time. Same statements, same guard,
 * same tie rules as the webhook worker's batches. Stripe is read here inside the caller's
 * transaction; the worker reads it outside its batch transaction instead.
 */
export async function writeOne(ctx: SyncContext, write: BatchWrite): Promise<SyncResult> {
  const options = {
    logger: ctx.logger,
    refetcher: ctx.refetcher,
    refetchAlways: ctx.refetchAlways,
    refetchOnTie: ctx.refetchOnTie,
  };
  const batch = prepareBatch([write], options);
  const item = batch.items[0]!;
  if (item.error) throw item.error;
  const run = executorRunner(ctx.tx);
  const fresh = new Map<string, Record<string, unknown> | null>();
  if (ctx.refetcher) await fetchFresh(ctx.refetcher, refetchesBefore(batch), fresh);
  const locksHeld =
    ctx.lockedCustomerId !== undefined &&
    batch.lockKeys.every((key) => key === `billing:customer:${ctx.lockedCustomerId}`);
  for (let round = 1; ; round++) {
    try {
      const outcome = await writeBatch(run, batch, { fresh, locksHeld });
      return outcome.results[0] ?? { outcome: 'ignored', objectId: null, userIds: [] };
    } catch (error) {
      if (!(error instanceof RefetchNeeded) || !ctx.refetcher || round >= MAX_REFETCH_ROUNDS)
        throw error;
      await fetchFresh(ctx.refetcher, error.keys, fresh);
    }
  }
}

const one =
  (family: SyncFamily | 'checkout_session') =>
  (ctx: SyncContext, payload: unknown, source: WriteSource): Promise<SyncResult> =>
    writeOne(ctx, { family, object: payload as Record<string, unknown>, source });

export const syncSubscription = one('subscription');
export const syncInvoice = one('invoice');
export const syncInvoicePayment = one('invoice_payment');
export const syncProduct = one('product');
export const syncSubscriptionSchedule = one('subscription_schedule');
export const syncEntitlementSummary = one('entitlements');
export const syncCheckoutSession = one('checkout_session');

/** A customer; `deleted` marks it deleted whatever the event (a backfill of a deleted one). */
export function syncCustomer(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
  options: { deleted?: boolean } = {},
): Promise<SyncResult> {
  const object = payload as Record<string, unknown>;
  return writeOne(ctx, {
    family: 'customer',
    object: options.deleted ? { ...object, deleted: true } : object,
    source,
  });
}

/** A price, or a legacy plan (`{ legacyPlan: true }`, which keeps the stored lookup key). */
export function syncPrice(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
  options: { legacyPlan?: boolean } = {},
): Promise<SyncResult> {
  return writeOne(ctx, {
    family: options.legacyPlan ? 'plan' : 'price',
    object: payload as Record<string, unknown>,
    source,
  });
}
