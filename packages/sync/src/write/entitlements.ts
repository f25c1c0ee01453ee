import { entitlements } from '@billing/db';
import type { SyncContext, SyncResult, WriteSource } from '../context.js';
import {
  type NormalizedEntitlementSummary,
  normalizeEntitlementSummary,
} from '../normalize/entitlements.js';
import { writeRank } from '../rank.js';
import { excludedSet, holdCustomerLock, newerThanStored, staleOrTie, stampOf } from './guard.js';
import { startingObject, writeResolvingTies } from './source.js';
import { customerUserSql } from './users.js';

/**
 * Stores a customer's active entitlement summary
 * (`entitlements.active_entitlement_summary.updated`). The event's list holds one page; when
 * Stripe says there is more and a Stripe client is configured, the full list is read.
 */
export async function syncEntitlementSummary(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
): Promise<SyncResult> {
  const fromPayload = normalizeEntitlementSummary(payload);
  const customerId = fromPayload.customerId;
  await holdCustomerLock(ctx, customerId);
  let start = await startingObject(ctx, 'entitlements', customerId, source, payload);
  if (!start.refetched && !fromPayload.complete) {
    if (ctx.refetcher) {
      const fresh = await ctx.refetcher.retrieve('entitlements', customerId, source.account);
      if (fresh) start = { object: fresh, refetched: true };
    } else {
      ctx.logger.warn(
        { customerId, eventId: source.eventId },
        'entitlement summary truncated and no Stripe client to read the rest',
      );
    }
  }
  const first = start.refetched ? normalizeEntitlementSummary(start.object) : fromPayload;
  // Read by the upsert itself, under the customer lock.
  const userId = customerUserSql(customerId);

  const write = async (s: NormalizedEntitlementSummary, tieWins: boolean) => {
    const stamp = stampOf(source, writeRank(source.eventType, 0), s.livemode);
    const row = { customerId: s.customerId, userId, features: s.features, ...stamp };
    const returned = await ctx.tx
      .insert(entitlements)
      .values(row)
      .onConflictDoUpdate({
        target: entitlements.customerId,
        set: excludedSet(entitlements, row, { key: entitlements.customerId, keep: ['userId'] }),
        setWhere: newerThanStored(entitlements, tieWins),
      })
      .returning({ userId: entitlements.userId });
    if (returned[0]) return { outcome: 'applied' as const, returned: returned[0] };
    return {
      outcome: await staleOrTie(ctx.tx, entitlements, entitlements.customerId, s.customerId, stamp),
    };
  };

  const result = await writeResolvingTies(
    ctx,
    'entitlements',
    customerId,
    source,
    first,
    start.refetched,
    {
      write,
      fromStripe: (fresh) => normalizeEntitlementSummary(fresh),
    },
  );
  const linkedUser = result.outcome === 'applied' ? (result.returned?.userId ?? null) : null;
  return {
    outcome: result.outcome,
    objectId: customerId,
    userIds: linkedUser ? [linkedUser] : [],
    tie: result.tie,
    refetched: result.refetched,
  };
}
