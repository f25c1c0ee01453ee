import { subscriptionItems, subscriptions } from '@billing/db';
import { and, eq, notInArray } from 'drizzle-orm';
import type { SyncContext, SyncResult, WriteSource } from '../context.js';
import { type NormalizedSubscription, normalizeSubscription } from '../normalize/subscription.js';
import { SUBSCRIPTION_STATE_RANK, stateRank, writeRank } from '../rank.js';
import {
  excludedSet,
  holdCustomerLock,
  newerThanStored,
  type StampColumns,
  staleOrTie,
  stampOf,
} from './guard.js';
import { planIdSql } from './plans.js';
import { startingObject, writeResolvingTies } from './source.js';
import { customerUserSql, linkCustomerToUser } from './users.js';

/**
 * Upserts a subscription and replaces its items (every `customer.subscription.*` event, or
 * a backfill). Periods are read from the subscription or its first item, whichever API
 * version rendered the payload. `user_id` is the subscription's `metadata.user_id`, else its
 * customer's user; `plan_id` is the catalogue plan of its price at write time.
 */
export async function syncSubscription(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
): Promise<SyncResult> {
  const fromPayload = normalizeSubscription(payload);
  await holdCustomerLock(ctx, fromPayload.customerId);
  const start = await startingObject(ctx, 'subscription', fromPayload.id, source, payload);
  const first = start.refetched ? normalizeSubscription(start.object) : fromPayload;
  // Read inside the upsert (values and RETURNING) rather than in statements of their own:
  // the customer lock above is held, so the statement sees the customer's latest link.
  const customerUser = customerUserSql(fromPayload.customerId);

  const write = async (s: NormalizedSubscription, tieWins: boolean) => {
    const stamp = stampOf(
      source,
      writeRank(source.eventType, stateRank(SUBSCRIPTION_STATE_RANK, s.status)),
      s.livemode,
    );
    const row = {
      id: s.id,
      customerId: s.customerId,
      userId: s.userId ?? customerUser,
      status: s.status,
      planId: planIdSql(s.priceId, s.priceLookupKey),
      priceId: s.priceId,
      interval: s.interval,
      quantity: s.quantity,
      currentPeriodStart: s.currentPeriodStart,
      currentPeriodEnd: s.currentPeriodEnd,
      cancelAtPeriodEnd: s.cancelAtPeriodEnd,
      cancelAt: s.cancelAt,
      canceledAt: s.canceledAt,
      endedAt: s.endedAt,
      trialStart: s.trialStart,
      trialEnd: s.trialEnd,
      pauseCollection: s.pauseCollection,
      pendingUpdate: s.pendingUpdate,
      scheduleId: s.scheduleId,
      metadata: s.metadata,
      createdAt: s.createdAt,
      ...stamp,
    };
    const returned = await ctx.tx
      .insert(subscriptions)
      .values(row)
      .onConflictDoUpdate({
        target: subscriptions.id,
        set: excludedSet(subscriptions, row, { key: subscriptions.id, keep: ['userId'] }),
        setWhere: newerThanStored(subscriptions, tieWins),
      })
      .returning({ userId: subscriptions.userId, customerUserId: customerUser });
    if (!returned[0])
      return { outcome: await staleOrTie(ctx.tx, subscriptions, subscriptions.id, s.id, stamp) };
    await replaceItems(ctx, s, stamp);
    return { outcome: 'applied' as const, returned: returned[0] };
  };

  const result = await writeResolvingTies(
    ctx,
    'subscription',
    fromPayload.id,
    source,
    first,
    start.refetched,
    {
      write,
      fromStripe: (fresh) => normalizeSubscription(fresh),
    },
  );
  if (result.outcome !== 'applied') {
    return {
      outcome: result.outcome,
      objectId: fromPayload.id,
      userIds: [],
      tie: result.tie,
      refetched: result.refetched,
    };
  }
  const userIds = new Set<string>();
  if (result.returned?.userId) userIds.add(result.returned.userId);
  // A subscription naming its user links its customer too (the customer's other rows follow).
  // The customer's current user came back with the upsert: nothing more to run unless the
  // customer has no user yet.
  const named = result.normalized.userId;
  if (
    named &&
    (await linkCustomerToUser(ctx, fromPayload.customerId, named, source, {
      userId: result.returned?.customerUserId ?? null,
    })) === 'linked'
  ) {
    userIds.add(named);
  }
  return {
    outcome: 'applied',
    objectId: fromPayload.id,
    userIds: [...userIds],
    tie: result.tie,
    refetched: result.refetched,
  };
}

/**
 * The items as of the write that just won: upsert each, delete the ones no longer listed
 * (unless Stripe truncated the list). They follow their subscription's guard, so no guard
 * of their own: a stale subscription write never reaches here. Both happen in one statement
 * (the delete as a data-modifying CTE, which Postgres always runs to completion): the rows
 * deleted and the rows upserted are disjoint, so neither part sees or undoes the other.
 */
async function replaceItems(
  ctx: SyncContext,
  s: NormalizedSubscription,
  stamp: StampColumns,
): Promise<void> {
  const keep = s.items.map((item) => item.id);
  const removal = ctx.tx
    .delete(subscriptionItems)
    .where(
      keep.length > 0
        ? and(eq(subscriptionItems.subscriptionId, s.id), notInArray(subscriptionItems.id, keep))
        : eq(subscriptionItems.subscriptionId, s.id),
    );
  if (s.items.length === 0) {
    if (s.itemsComplete) await removal;
    return;
  }
  const rows = s.items.map((item) => ({
    id: item.id,
    subscriptionId: s.id,
    priceId: item.priceId,
    quantity: item.quantity,
    currentPeriodStart: item.currentPeriodStart,
    currentPeriodEnd: item.currentPeriodEnd,
    metadata: item.metadata,
    createdAt: item.createdAt,
    ...stamp,
  }));
  const builder = s.itemsComplete
    ? ctx.tx.with(ctx.tx.$with('removed_items', {}).as(removal.getSQL()))
    : ctx.tx;
  await builder
    .insert(subscriptionItems)
    .values(rows)
    .onConflictDoUpdate({
      target: subscriptionItems.id,
      set: excludedSet(subscriptionItems, rows[0]!, { key: subscriptionItems.id }),
    });
}
