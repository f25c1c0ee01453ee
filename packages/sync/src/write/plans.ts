import { plans, prices } from '@billing/db';
import { type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../context.js';

/**
 * The catalogue plan a price belongs to, as a scalar subquery: `plans.month_price` /
 * `year_price` hold a price id or a lookup key, so both are tried (the lowest `sort_order`
 * wins). The lookup key comes from the payload's expanded price, else from the synced
 * `prices` row. Null when the price is in no plan. A subquery so that the subscription upsert
 * resolves its plan itself instead of spending one or two round trips on it.
 */
export function planIdSql(priceId: string | null, lookupKey: string | null): SQL<string | null> {
  if (!priceId) return sql<null>`null::text`;
  const key = sql`coalesce(${lookupKey}::text, (select ${prices.lookupKey} from ${prices} where ${prices.id} = ${priceId}::text))`;
  return sql<string | null>`(select ${plans.id} from ${plans},
    (select array[${priceId}::text, ${key}] as refs) as plan_refs
    where ${plans.monthPrice} = any(plan_refs.refs) or ${plans.yearPrice} = any(plan_refs.refs)
    order by ${plans.sortOrder} asc limit 1)`;
}

/** {@link planIdSql} on its own: the plan id of a price, in one statement. */
export async function resolvePlanId(
  tx: Executor,
  priceId: string | null,
  lookupKey: string | null,
): Promise<string | null> {
  if (!priceId) return null;
  const [row] = await tx.execute<{ plan_id: string | null }>(
    sql`select ${planIdSql(priceId, lookupKey)} as plan_id`,
  );
  return row?.plan_id ?? null;
}
