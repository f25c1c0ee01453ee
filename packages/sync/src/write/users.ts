import { customers, entitlements, invoices, subscriptions } from '@billing/db';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { SyncContext, WriteSource } from '../context.js';

/** The app user linked to a Stripe customer, if any. */
export async function userOfCustomer(
  ctx: SyncContext,
  customerId: string | null,
): Promise<string | null> {
  if (!customerId) return null;
  const [row] = await ctx.tx
    .select({ userId: customers.userId })
    .from(customers)
    .where(eq(customers.id, customerId))
    .limit(1);
  return row?.userId ?? null;
}

/**
 * Copies a customer's user onto its subscriptions, invoices and entitlement summary that do
 * not have one yet (they arrived before the link). Returns whether anything changed.
 */
export async function backfillUserOfCustomer(
  ctx: SyncContext,
  customerId: string,
  userId: string,
): Promise<boolean> {
  const subs = await ctx.tx
    .update(subscriptions)
    .set({ userId })
    .where(and(eq(subscriptions.customerId, customerId), isNull(subscriptions.userId)))
    .returning({ id: subscriptions.id });
  const invs = await ctx.tx
    .update(invoices)
    .set({ userId })
    .where(and(eq(invoices.customerId, customerId), isNull(invoices.userId)))
    .returning({ id: invoices.id });
  const ents = await ctx.tx
    .update(entitlements)
    .set({ userId })
    .where(and(eq(entitlements.customerId, customerId), isNull(entitlements.userId)))
    .returning({ customerId: entitlements.customerId });
  return subs.length + invs.length + ents.length > 0;
}

export type LinkOutcome = 'linked' | 'already-linked' | 'conflict';

/**
 * Links a Stripe customer to an app user (checkout session, or `metadata.user_id` on a
 * subscription) and back-fills the customer's rows. A customer not synced yet gets a
 * placeholder row stamped at the epoch, so its real `customer.*` event overwrites every
 * field but keeps the link (user_id is coalesced). A customer already linked to a different
 * user is left alone and reported as a conflict: the first link wins, an operator decides.
 */
export async function linkCustomerToUser(
  ctx: SyncContext,
  customerId: string,
  userId: string,
  source: WriteSource,
): Promise<LinkOutcome> {
  const linked = await ctx.tx
    .insert(customers)
    .values({
      id: customerId,
      userId,
      account: source.account,
      livemode: source.livemode,
      lastEventId: `link:${source.eventId}`,
      lastEventCreated: new Date(0),
      lastEventRank: 0,
    })
    .onConflictDoUpdate({
      target: customers.id,
      set: { userId: sql`excluded.user_id` },
      setWhere: sql`${customers.userId} is null`,
    })
    .returning({ id: customers.id });
  if (linked.length === 0) {
    const current = await userOfCustomer(ctx, customerId);
    if (current !== userId) {
      ctx.logger.warn(
        { customerId, eventId: source.eventId },
        'customer already linked to another user; link not changed',
      );
      return 'conflict';
    }
  }
  const backfilled = await backfillUserOfCustomer(ctx, customerId, userId);
  return linked.length > 0 || backfilled ? 'linked' : 'already-linked';
}
