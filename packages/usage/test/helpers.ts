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

/** Aggregates plus live tail per group, read in one statement (what "used so far" adds up). */
export async function splitTotals(sql: Sql): Promise<Map<string, number>> {
  const rows = await sql<{ k: string; total: string }[]>`
    with parts as (
      select user_id, metric, period_start, quantity from usage_aggregates
      union all
      select user_id, metric, period_start, quantity from usage_ledger where rollup_id is null
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
