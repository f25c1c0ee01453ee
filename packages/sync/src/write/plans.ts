import { plans, prices } from '@billing/db';
import { asc, eq, inArray, or } from 'drizzle-orm';
import type { Executor } from '../context.js';

/**
 * The catalogue plan a price belongs to: `plans.month_price` / `year_price` hold a price id
 * or a lookup key, so both are tried. The lookup key comes from the payload's expanded price,
 * else from the synced `prices` row. Null when the price is in no plan.
 */
export async function resolvePlanId(
  tx: Executor,
  priceId: string | null,
  lookupKey: string | null,
): Promise<string | null> {
  if (!priceId) return null;
  let key = lookupKey;
  if (!key) {
    const [price] = await tx
      .select({ lookupKey: prices.lookupKey })
      .from(prices)
      .where(eq(prices.id, priceId))
      .limit(1);
    key = price?.lookupKey ?? null;
  }
  const refs = key ? [priceId, key] : [priceId];
  const [plan] = await tx
    .select({ id: plans.id })
    .from(plans)
    .where(or(inArray(plans.monthPrice, refs), inArray(plans.yearPrice, refs)))
    .orderBy(asc(plans.sortOrder))
    .limit(1);
  return plan?.id ?? null;
}
