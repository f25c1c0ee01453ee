import { subscriptionSchedules } from '@billing/db';
import type { SyncContext, SyncResult, WriteSource } from '../context.js';
import {
  type NormalizedSubscriptionSchedule,
  normalizeSubscriptionSchedule,
} from '../normalize/subscription-schedule.js';
import { SCHEDULE_STATE_RANK, stateRank, writeRank } from '../rank.js';
import { excludedSet, holdCustomerLock, newerThanStored, staleOrTie, stampOf } from './guard.js';
import { startingObject, writeResolvingTies } from './source.js';
import { customerUserSql } from './users.js';

/** Upserts a subscription schedule (`subscription_schedule.*`, or a backfill). */
export async function syncSubscriptionSchedule(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
): Promise<SyncResult> {
  const fromPayload = normalizeSubscriptionSchedule(payload);
  if (fromPayload.customerId) await holdCustomerLock(ctx, fromPayload.customerId);
  const start = await startingObject(ctx, 'subscription_schedule', fromPayload.id, source, payload);
  const first = start.refetched ? normalizeSubscriptionSchedule(start.object) : fromPayload;

  const write = async (s: NormalizedSubscriptionSchedule, tieWins: boolean) => {
    const stamp = stampOf(
      source,
      writeRank(source.eventType, stateRank(SCHEDULE_STATE_RANK, s.status)),
      s.livemode,
    );
    const row = {
      id: s.id,
      customerId: s.customerId,
      subscriptionId: s.subscriptionId,
      status: s.status,
      phases: s.phases,
      endBehavior: s.endBehavior,
      metadata: s.metadata,
      createdAt: s.createdAt,
      ...stamp,
    };
    const returned = await ctx.tx
      .insert(subscriptionSchedules)
      .values(row)
      .onConflictDoUpdate({
        target: subscriptionSchedules.id,
        set: excludedSet(subscriptionSchedules, row, { key: subscriptionSchedules.id }),
        setWhere: newerThanStored(subscriptionSchedules, tieWins),
      })
      // The customer's user (for cache invalidation) read by the upsert itself.
      .returning({ id: subscriptionSchedules.id, customerUserId: customerUserSql(s.customerId) });
    if (returned[0]) return { outcome: 'applied' as const, returned: returned[0] };
    return {
      outcome: await staleOrTie(
        ctx.tx,
        subscriptionSchedules,
        subscriptionSchedules.id,
        s.id,
        stamp,
      ),
    };
  };

  const result = await writeResolvingTies(
    ctx,
    'subscription_schedule',
    fromPayload.id,
    source,
    first,
    start.refetched,
    {
      write,
      fromStripe: (fresh) => normalizeSubscriptionSchedule(fresh),
    },
  );
  const userId = result.outcome === 'applied' ? (result.returned?.customerUserId ?? null) : null;
  return {
    outcome: result.outcome,
    objectId: fromPayload.id,
    userIds: userId ? [userId] : [],
    tie: result.tie,
    refetched: result.refetched,
  };
}
