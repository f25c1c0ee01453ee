import { LIVE_SUBSCRIPTION_STATUSES_SQL, type Sql } from '@billing/db';

/** The subscription row the API shows and caches (JSON-safe: times are ISO strings). */
export interface SubscriptionRecord {
  id: string;
  customerId: string;
  status: string;
  priceId: string | null;
  /** The price's lookup key from the synced `prices` row, for plans referenced by lookup key. */
  priceLookupKey: string | null;
  interval: string | null;
  quantity: number;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  trialEnd: string | null;
  createdAt: string | null;
  /** Version of the row (the event that last wrote it); part of mutation idempotency keys. */
  lastEventId: string;
}

interface Row {
  id: string;
  customer_id: string;
  status: string;
  price_id: string | null;
  lookup_key: string | null;
  interval: string | null;
  quantity: number;
  current_period_start: Date | string | null;
  current_period_end: Date | string | null;
  cancel_at_period_end: boolean;
  trial_end: Date | string | null;
  created_at: Date | string | null;
  last_event_id: string;
}

/**
 * Timestamps from raw `sql` arrive as strings: the Drizzle instance sharing the postgres.js
 * client installs pass-through parsers for them. Accept both.
 */
export const iso = (value: Date | string | null): string | null =>
  value === null ? null : new Date(value).toISOString();

/**
 * The subscription a user is shown: the newest live one (active, trialing, past_due) if any,
 * else the newest of any status (e.g. canceled). Never a canceled one while a live one
 * exists. One statement: two index scans (`subscriptions_active_by_user_idx`, then
 * `subscriptions_user_id_idx`) of one row each, the live one ranked first.
 */
export async function loadSubscription(
  sql: Sql,
  userId: string,
): Promise<SubscriptionRecord | null> {
  const rows = await sql<Row[]>`
    select t.*, p.lookup_key
    from (
      (select s.id, s.customer_id, s.status, s.price_id, s.interval, s.quantity,
              s.current_period_start, s.current_period_end, s.cancel_at_period_end, s.trial_end,
              s.created_at, s.last_event_id, 0 as rank
         from subscriptions s
        where s.user_id = ${userId} and s.status in (${sql.unsafe(LIVE_SUBSCRIPTION_STATUSES_SQL)})
        order by s.created_at desc
        limit 1)
      union all
      (select s.id, s.customer_id, s.status, s.price_id, s.interval, s.quantity,
              s.current_period_start, s.current_period_end, s.cancel_at_period_end, s.trial_end,
              s.created_at, s.last_event_id, 1 as rank
         from subscriptions s
        where s.user_id = ${userId}
        order by s.created_at desc
        limit 1)
    ) t
    left join prices p on p.id = t.price_id
    order by t.rank
    limit 1`;
  const row = rows[0];
  if (!row) return null;
  return {
    id: row.id,
    customerId: row.customer_id,
    status: row.status,
    priceId: row.price_id,
    priceLookupKey: row.lookup_key,
    interval: row.interval,
    quantity: row.quantity,
    currentPeriodStart: iso(row.current_period_start),
    currentPeriodEnd: iso(row.current_period_end),
    cancelAtPeriodEnd: row.cancel_at_period_end,
    trialEnd: iso(row.trial_end),
    createdAt: iso(row.created_at),
    lastEventId: row.last_event_id,
  };
}

export interface ItemRecord {
  id: string;
  priceId: string | null;
  lookupKey: string | null;
}

/** The items of a subscription with their prices' lookup keys. */
export async function loadItems(sql: Sql, subscriptionId: string): Promise<ItemRecord[]> {
  const rows = await sql<{ id: string; price_id: string | null; lookup_key: string | null }[]>`
    select i.id, i.price_id, p.lookup_key
      from subscription_items i
      left join prices p on p.id = i.price_id
     where i.subscription_id = ${subscriptionId}
     order by i.created_at nulls last, i.id`;
  return rows.map((row) => ({ id: row.id, priceId: row.price_id, lookupKey: row.lookup_key }));
}

/** The user's Stripe customer (newest, not deleted), if one has been synced. */
export async function loadCustomerId(sql: Sql, userId: string): Promise<string | null> {
  const rows = await sql<{ id: string }[]>`
    select id from customers
     where user_id = ${userId} and not deleted
     order by created_at desc nulls last
     limit 1`;
  return rows[0]?.id ?? null;
}
