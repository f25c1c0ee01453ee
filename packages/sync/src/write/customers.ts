import { customers } from '@billing/db';
import { sql } from 'drizzle-orm';
import type { SyncContext, SyncResult, WriteSource } from '../context.js';
import { type NormalizedCustomer, normalizeCustomer } from '../normalize/customer.js';
import { deletedStateRank, writeRank } from '../rank.js';
import { excludedSet, holdCustomerLock, newerThanStored, staleOrTie, stampOf } from './guard.js';
import { startingObject, writeResolvingTies } from './source.js';
import { backfillUserOfCustomer } from './users.js';

/**
 * Upserts a customer (`customer.created` / `updated` / `deleted`, or a backfill). The user
 * link comes from `metadata.user_id`; a customer without it keeps a link learnt elsewhere
 * (checkout), and a newly learnt (or changed) link is copied onto the customer's other rows.
 */
export async function syncCustomer(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
  options: { deleted?: boolean } = {},
): Promise<SyncResult> {
  const deleted = options.deleted ?? source.eventType === 'customer.deleted';
  const fromPayload = normalizeCustomer(payload, { deleted });
  await holdCustomerLock(ctx, fromPayload.id);
  const start = await startingObject(ctx, 'customer', fromPayload.id, source, payload);
  // A retrieved deleted customer is a stub (`{ id, deleted: true }`): keep the payload's fields.
  const fromStripe = (fresh: Record<string, unknown>) =>
    fresh.deleted === true
      ? { ...fromPayload, deleted: true }
      : normalizeCustomer(fresh, { deleted });
  const first = start.refetched ? fromStripe(start.object as Record<string, unknown>) : fromPayload;

  const write = async (c: NormalizedCustomer, tieWins: boolean) => {
    const stamp = stampOf(
      source,
      writeRank(source.eventType, deletedStateRank(c.deleted)),
      c.livemode,
    );
    const row = {
      id: c.id,
      userId: c.userId,
      email: c.email,
      name: c.name,
      currency: c.currency,
      deleted: c.deleted,
      metadata: c.metadata,
      createdAt: c.createdAt,
      ...stamp,
    };
    const returned = await ctx.tx
      .insert(customers)
      .values(row)
      .onConflictDoUpdate({
        target: customers.id,
        set: excludedSet(customers, row, { key: customers.id, keep: ['userId', 'createdAt'] }),
        setWhere: newerThanStored(customers, tieWins),
      })
      .returning({
        userId: customers.userId,
        // A subquery in RETURNING reads the statement's snapshot, i.e. the row as it was
        // before this upsert (null when it is new). Under the customer lock that is the latest
        // committed link, so comparing the two tells whether the link changed. (Qualified by
        // hand: Drizzle renders RETURNING columns unqualified.)
        previousUserId: sql<
          string | null
        >`(select prev.user_id from ${customers} as prev where prev.id = ${customers}.id)`,
      });
    if (returned[0]) return { outcome: 'applied' as const, returned: returned[0] };
    return { outcome: await staleOrTie(ctx.tx, customers, customers.id, c.id, stamp) };
  };

  const result = await writeResolvingTies(
    ctx,
    'customer',
    fromPayload.id,
    source,
    first,
    start.refetched,
    {
      write,
      fromStripe,
    },
  );
  const userId = result.returned?.userId ?? null;
  // Back-fill the customer's other rows only when the link changed (see backfillUserOfCustomer).
  if (result.outcome === 'applied' && userId && userId !== result.returned?.previousUserId)
    await backfillUserOfCustomer(ctx, fromPayload.id, userId);
  return {
    outcome: result.outcome,
    objectId: fromPayload.id,
    userIds: result.outcome === 'applied' && userId ? [userId] : [],
    tie: result.tie,
    refetched: result.refetched,
  };
}
