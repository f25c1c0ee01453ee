import { prices, products } from '@billing/db';
import type { SyncContext, SyncResult, WriteSource } from '../context.js';
import {
  type NormalizedPrice,
  type NormalizedProduct,
  normalizePlan,
  normalizePrice,
  normalizeProduct,
} from '../normalize/catalog.js';
import { deletedStateRank, writeRank } from '../rank.js';
import type { SyncFamily } from '../refetch.js';
import { excludedSet, newerThanStored, staleOrTie, stampOf } from './guard.js';
import { startingObject, writeResolvingTies } from './source.js';

/** Upserts a product (`product.*`, or a backfill). */
export async function syncProduct(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
): Promise<SyncResult> {
  const deleted = source.eventType === 'product.deleted';
  const fromPayload = normalizeProduct(payload, { deleted });
  const start = await startingObject(ctx, 'product', fromPayload.id, source, payload);
  const fromStripe = (fresh: Record<string, unknown>) =>
    fresh.deleted === true
      ? { ...fromPayload, deleted: true, active: false }
      : normalizeProduct(fresh, { deleted });
  const first = start.refetched ? fromStripe(start.object as Record<string, unknown>) : fromPayload;

  const write = async (p: NormalizedProduct, tieWins: boolean) => {
    const stamp = stampOf(
      source,
      writeRank(source.eventType, deletedStateRank(p.deleted)),
      p.livemode,
    );
    const row = {
      id: p.id,
      name: p.name,
      description: p.description,
      active: p.active,
      deleted: p.deleted,
      metadata: p.metadata,
      createdAt: p.createdAt,
      ...stamp,
    };
    const returned = await ctx.tx
      .insert(products)
      .values(row)
      .onConflictDoUpdate({
        target: products.id,
        set: excludedSet(products, row, { key: products.id }),
        setWhere: newerThanStored(products, tieWins),
      })
      .returning({ id: products.id });
    if (returned[0]) return { outcome: 'applied' as const, returned: returned[0] };
    return { outcome: await staleOrTie(ctx.tx, products, products.id, p.id, stamp) };
  };

  const result = await writeResolvingTies(
    ctx,
    'product',
    fromPayload.id,
    source,
    first,
    start.refetched,
    {
      write,
      fromStripe,
    },
  );
  return {
    outcome: result.outcome,
    objectId: fromPayload.id,
    userIds: [],
    tie: result.tie,
    refetched: result.refetched,
  };
}

/**
 * Upserts a price (`price.*`) or a legacy plan (`plan.*`, which is the recurring price with
 * the same id). A plan carries no lookup key, so its write keeps the stored one.
 */
export async function syncPrice(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
  options: { legacyPlan?: boolean } = {},
): Promise<SyncResult> {
  const family: SyncFamily = options.legacyPlan ? 'plan' : 'price';
  const deleted = source.eventType === 'price.deleted' || source.eventType === 'plan.deleted';
  const normalize = (raw: unknown) =>
    options.legacyPlan ? normalizePlan(raw, { deleted }) : normalizePrice(raw, { deleted });
  const fromPayload = normalize(payload);
  const start = await startingObject(ctx, family, fromPayload.id, source, payload);
  const fromStripe = (fresh: Record<string, unknown>) =>
    fresh.deleted === true ? { ...fromPayload, deleted: true, active: false } : normalize(fresh);
  const first = start.refetched ? fromStripe(start.object as Record<string, unknown>) : fromPayload;

  const write = async (p: NormalizedPrice, tieWins: boolean) => {
    const stamp = stampOf(
      source,
      writeRank(source.eventType, deletedStateRank(p.deleted)),
      p.livemode,
    );
    const row = {
      id: p.id,
      productId: p.productId,
      active: p.active,
      deleted: p.deleted,
      currency: p.currency,
      unitAmount: p.unitAmount,
      type: p.type,
      recurringInterval: p.recurringInterval,
      recurringIntervalCount: p.recurringIntervalCount,
      lookupKey: p.lookupKey,
      nickname: p.nickname,
      metadata: p.metadata,
      createdAt: p.createdAt,
      ...stamp,
    };
    const returned = await ctx.tx
      .insert(prices)
      .values(row)
      .onConflictDoUpdate({
        target: prices.id,
        set: excludedSet(prices, row, { key: prices.id }),
        setWhere: newerThanStored(prices, tieWins),
      })
      .returning({ id: prices.id });
    if (returned[0]) return { outcome: 'applied' as const, returned: returned[0] };
    return { outcome: await staleOrTie(ctx.tx, prices, prices.id, p.id, stamp) };
  };

  const result = await writeResolvingTies(
    ctx,
    family,
    fromPayload.id,
    source,
    first,
    start.refetched,
    {
      write,
      fromStripe,
    },
  );
  return {
    outcome: result.outcome,
    objectId: fromPayload.id,
    userIds: [],
    tie: result.tie,
    refetched: result.refetched,
  };
}
