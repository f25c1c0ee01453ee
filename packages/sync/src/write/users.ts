import { customers, entitlements, invoices, subscriptions } from '@billing/db';
import { eq, type SQL, sql } from 'drizzle-orm';
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
 * The customer's user as a scalar subquery, to read it inside the statement that needs it
 * instead of in a round trip of its own. Callers hold the customer lock (taken by an earlier
 * statement), so the statement's snapshot already sees the latest link.
 */
export function customerUserSql(customerId: string | null): SQL<string | null> {
  if (!customerId) return sql<null>`null::text`;
  return sql<
    string | null
  >`(select cu.user_id from ${customers} as cu where cu.id = ${customerId})`;
}

/**
 * Copies a customer's user onto its subscriptions, invoices and entitlement summary that do
 * not have one yet (they arrived before the link), in one statement. Returns whether
 * anything changed.
 *
 * Run it only when the customer's link has just changed. Every writer of those rows holds
 * the customer lock and takes the customer's current user, so while the link stays the same
 * no row of the customer can be left without it: re-running this on every event would find
 * nothing (and cost three statements per event).
 */
export async function backfillUserOfCustomer(
  ctx: SyncContext,
  customerId: string,
  userId: string,
): Promise<boolean> {
  const [row] = await ctx.tx.execute<{ changed: number }>(sql`
    with s as (
      update ${subscriptions} set user_id = ${userId}
      where customer_id = ${customerId} and user_id is null returning 1
    ), i as (
      update ${invoices} set user_id = ${userId}
      where customer_id = ${customerId} and user_id is null returning 1
    ), e as (
      update ${entitlements} set user_id = ${userId}
      where customer_id = ${customerId} and user_id is null returning 1
    )
    select ((select count(*) from s) + (select count(*) from i) + (select count(*) from e))::int
      as changed`);
  return Number(row?.changed ?? 0) > 0;
}

export type LinkOutcome = 'linked' | 'already-linked' | 'conflict';

/**
 * Links a Stripe customer to an app user (checkout session, or `metadata.user_id` on a
 * subscription) and back-fills the customer's rows. A customer not synced yet gets a
 * placeholder row stamped at the epoch, so its real `customer.*` event overwrites every
 * field but keeps the link (user_id is coalesced). A customer already linked to a different
 * user is left alone and reported as a conflict: the first link wins, an operator decides.
 *
 * The caller holds the customer lock. `current`, when given, is the customer's user as read
 * under that lock (null: none): the outcome is then known without a statement unless the
 * link must actually be written.
 */
export async function linkCustomerToUser(
  ctx: SyncContext,
  customerId: string,
  userId: string,
  source: WriteSource,
  current?: { userId: string | null },
): Promise<LinkOutcome> {
  const conflict = (): LinkOutcome => {
    ctx.logger.warn(
      { customerId, eventId: source.eventId },
      'customer already linked to another user; link not changed',
    );
    return 'conflict';
  };
  if (current?.userId) return current.userId === userId ? 'already-linked' : conflict();
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
    // Already linked: to this user (nothing to back-fill, see backfillUserOfCustomer) or not.
    const stored = await userOfCustomer(ctx, customerId);
    return stored === userId ? 'already-linked' : conflict();
  }
  await backfillUserOfCustomer(ctx, customerId, userId);
  return 'linked';
}
