import type { Sql } from '@billing/db';
import type { UsageConfig } from '../src/env.js';

export const METRICS = ['compute_minutes', 'api_requests'];

export const testConfig = (overrides: Partial<UsageConfig> = {}): UsageConfig => ({
  freePeriod: 'calendar_month',
  freeEpoch: new Date('2024-01-01T00:00:00Z'),
  lateGraceMs: 48 * 3600_000,
  latePolicy: 'adjust',
  maxFutureSkewMs: 300_000,
  ...overrides,
});

let subscriptionSeq = 0;

/** A live subscription row as the webhook worker writes it (period columns normalised). */
export async function insertSubscription(
  sql: Sql,
  row: {
    userId: string;
    start: Date;
    end: Date;
    interval?: string;
    createdAt?: Date;
    status?: string;
  },
): Promise<string> {
  const id = `sub_test_${++subscriptionSeq}_${row.userId}`;
  await sql`
    insert into subscriptions (id, customer_id, user_id, status, interval, current_period_start, current_period_end,
                               created_at, last_event_id, last_event_created)
    values (${id}, ${`cus_${row.userId}`}, ${row.userId}, ${row.status ?? 'active'}, ${row.interval ?? 'month'},
            ${row.start.toISOString()}::timestamptz, ${row.end.toISOString()}::timestamptz,
            ${(row.createdAt ?? row.start).toISOString()}::timestamptz, ${`evt_${id}`}, now())`;
  return id;
}

export const record = (
  userId: string,
  key: string,
  quantity: number,
  occurredAt: Date | string,
  metric = 'compute_minutes',
  extra: Record<string, unknown> = {},
) => ({
  userId,
  metric,
  quantity,
  occurredAt: typeof occurredAt === 'string' ? occurredAt : occurredAt.toISOString(),
  idempotencyKey: key,
  ...extra,
});

export interface GroupTotal {
  user_id: string;
  metric: string;
  period_start: string;
  total: number;
}

/** The ground truth: a direct SUM over the whole ledger per (user, metric, period). */
export async function directTotals(sql: Sql): Promise<Map<string, number>> {
  const rows = await sql<{ k: string; total: string }[]>`
    select user_id || '|' || metric || '|' || (extract(epoch from period_start) * 1000)::bigint as k, sum(quantity)::text as total
    from usage_ledger group by 1`;
  return new Map(rows.map((r) => [r.k, Number(r.total)]));
}

/**
 * Aggregates plus live tail per group, read in one statement (what "used so far" adds up): the
 * tail of a group is its rows with txid >= the aggregate's through_txid (all rows without one).
 */
export async function splitTotals(sql: Sql): Promise<Map<string, number>> {
  const rows = await sql<{ k: string; total: string }[]>`
    with parts as (
      select user_id, metric, period_start, quantity from usage_aggregates
      union all
      select l.user_id, l.metric, l.period_start, l.quantity from usage_ledger l
      left join usage_aggregates a
        on a.user_id = l.user_id and a.metric = l.metric and a.period_start = l.period_start
      where l.txid >= coalesce(a.through_txid, '0'::xid8)
    )
    select user_id || '|' || metric || '|' || (extract(epoch from period_start) * 1000)::bigint as k, sum(quantity)::text as total
    from parts group by 1`;
  return new Map(rows.map((r) => [r.k, Number(r.total)]));
}

/** Aggregates alone per group. */
export async function aggregateTotals(sql: Sql): Promise<Map<string, number>> {
  const rows = await sql<{ k: string; total: string }[]>`
    select user_id || '|' || metric || '|' || (extract(epoch from period_start) * 1000)::bigint as k, quantity::text as total
    from usage_aggregates`;
  return new Map(rows.map((r) => [r.k, Number(r.total)]));
}

export const sortedEntries = (map: Map<string, number>) =>
  [...map].filter(([, v]) => v !== 0).sort(([a], [b]) => (a < b ? -1 : 1));

/** Deterministic PRNG so a failing randomised run can be replayed from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Ledger rows in the live tail (not inside their group's aggregate), optionally of one user. */
export async function tailCount(sql: Sql, userId?: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from usage_ledger l
    left join usage_aggregates a
      on a.user_id = l.user_id and a.metric = l.metric and a.period_start = l.period_start
    where l.txid >= coalesce(a.through_txid, '0'::xid8)
      ${userId === undefined ? sql`` : sql`and l.user_id = ${userId}`}`;
  return row!.n;
}

/**
 * Waits until every ledger row written so far is below the transaction horizon
 * (`pg_snapshot_xmin`), so the next roll-up run can fold all of them. The horizon is
 * cluster-wide: a write transaction open in another test file's database holds it back until
 * it ends. Waits on a condition, never asserts on time; fails naming what holds it back.
 */
export async function waitForHorizon(sql: Sql, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql<{ ready: boolean }[]>`
      select coalesce(pg_snapshot_xmin(pg_current_snapshot()) > max(txid), true) as ready
      from usage_ledger`;
    if (row!.ready) return;
    if (Date.now() > deadline) {
      const holders = await sql`
        select pid, datname, backend_xid::text, state, left(query, 80) as query from pg_stat_activity
        where backend_xid is not null order by age(backend_xid) desc limit 5`;
      throw new Error(
        `transaction horizon held back for ${timeoutMs} ms by ${JSON.stringify(holders)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
