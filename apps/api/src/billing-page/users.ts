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
 * The customers `npm run simulate -- storm` creates (`storm_<run>_0001` …). A storm makes
 * hundreds of users at once, all newer than the user someone was just looking at, so they are
 * never the one the picker preselects.
 */
const BULK_USER_PREFIX = 'storm\\_';

/** A LIKE pattern matching `text` anywhere, with LIKE's wildcards in it taken literally. */
const containing = (text: string) => `%${text.replace(/[\\%_]/g, '\\$&')}%`;

/**
 * The users the system knows about, most recently seen first: Stripe customers and
 * subscriptions tagged with a user id, and users with recent usage. For the simulator-mode
 * user picker (a development tool): bounded scans, at most `limit` users; with `search`, only
 * ids containing it (case-insensitive), so a user among thousands can still be found.
 */
export async function knownUsers(
  sql: Sql,
  options: { limit?: number; search?: string } = {},
): Promise<KnownUser[]> {
  const limit = options.limit ?? 200;
  const pattern = options.search ? containing(options.search) : '%';
  const rows = await sql<{ user_id: string; status: string | null; plan_id: string | null }[]>`
    with seen as (
      select user_id, created_at as at from customers
       where user_id is not null and not deleted and user_id ilike ${pattern}
      union all
      select user_id, created_at from subscriptions
       where user_id is not null and user_id ilike ${pattern}
      union all
      select user_id, received_at
        from (select user_id, received_at from usage_ledger order by id desc limit ${RECENT_USAGE_ROWS}) recent
       where user_id ilike ${pattern}
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

/**
 * The user the picker opens when the browser has none of its own: the most recently seen
 * one that a bulk scenario did not create (e.g. the `journey_…` user), else null.
 */
export async function suggestedUser(sql: Sql): Promise<string | null> {
  const [row] = await sql<{ user_id: string }[]>`
    select user_id from (
      select user_id, created_at as at from customers where user_id is not null and not deleted
      union all
      select user_id, created_at from subscriptions where user_id is not null
      union all
      select user_id, received_at
        from (select user_id, received_at from usage_ledger order by id desc limit ${RECENT_USAGE_ROWS}) recent
    ) seen
    where user_id not like ${`${BULK_USER_PREFIX}%`}
    group by user_id
    order by max(at) desc nulls last, user_id
    limit 1`;
  return row?.user_id ?? null;
}
