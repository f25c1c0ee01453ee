import { LIVE_SUBSCRIPTION_STATUSES_SQL, type Sql } from '@billing/db';

export interface KnownUser {
  userId: string;
  /** The user's shown subscription (live first, else newest), if any. */
  status: string | null;
  planId: string | null;
}

/** How many recent usage rows are looked at to find users who only report usage. */
const RECENT_USAGE_ROWS = 5_000;

/**
 * The users the system knows about, most recently seen first: Stripe customers and
 * subscriptions tagged with a user id, and users with recent usage. For the simulator-mode
 * user picker (a development tool): bounded scans, at most `limit` users.
 */
export async function knownUsers(sql: Sql, limit = 200): Promise<KnownUser[]> {
  const rows = await sql<{ user_id: string; status: string | null; plan_id: string | null }[]>`
    with seen as (
      select user_id, created_at as at from customers where user_id is not null and not deleted
      union all
      select user_id, created_at from subscriptions where user_id is not null
      union all
      select user_id, received_at
        from (select user_id, received_at from usage_ledger order by id desc limit ${RECENT_USAGE_ROWS}) recent
    ),
    known as (
      select user_id, max(at) as last_seen from seen group by user_id
      order by max(at) desc nulls last
      limit ${limit}
    )
    select k.user_id, s.status, s.plan_id
      from known k
      left join lateral (
        select status, plan_id from subscriptions
         where user_id = k.user_id
         order by (status in (${sql.unsafe(LIVE_SUBSCRIPTION_STATUSES_SQL)})) desc, created_at desc nulls last
         limit 1
      ) s on true
     order by k.last_seen desc nulls last, k.user_id`;
  return rows.map((row) => ({ userId: row.user_id, status: row.status, planId: row.plan_id }));
}
