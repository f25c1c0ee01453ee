import type { Sql } from '@billing/db';
import { defaultUsageConfig, type UsageConfig } from './env.js';
import { resolvePeriod } from './period.js';

export interface UsageSnapshot {
  used: number;
  periodStart: Date;
  periodEnd: Date;
  source: 'subscription' | 'free';
}

/**
 * Exact usage of one (user, metric, period): the rolled-up total plus the live tail (rows no
 * roll-up has claimed), in ONE statement, so both halves come from one snapshot. A roll-up
 * chunk claims rows and adds them to the aggregate in one transaction, so a snapshot sees a
 * row either in the tail or in the aggregate, never both and never neither. Two statements
 * under READ COMMITTED could straddle a chunk's commit and count it twice or not at all.
 * The tail half is an index-only scan of `usage_ledger_tail_idx`.
 */
export async function usedInPeriod(
  sql: Sql,
  userId: string,
  metric: string,
  periodStart: Date,
): Promise<number> {
  const [row] = await sql<{ used: string }[]>`
    select (
      coalesce((select a.quantity from usage_aggregates a
                where a.user_id = ${userId} and a.metric = ${metric} and a.period_start = ${periodStart.toISOString()}::timestamptz), 0)
      + coalesce((select sum(l.quantity) from usage_ledger l
                  where l.user_id = ${userId} and l.metric = ${metric} and l.period_start = ${periodStart.toISOString()}::timestamptz
                    and l.rollup_id is null), 0)
    )::text as used`;
  return Number(row?.used ?? 0);
}

/** Exact usage of several metrics of one period, still in one statement. */
export async function usedInPeriodByMetric(
  sql: Sql,
  userId: string,
  metrics: readonly string[],
  periodStart: Date,
): Promise<Record<string, number>> {
  const result: Record<string, number> = Object.fromEntries(metrics.map((metric) => [metric, 0]));
  if (metrics.length === 0) return result;
  const rows = await sql<{ metric: string; used: string }[]>`
    select m.metric, (
      coalesce((select a.quantity from usage_aggregates a
                where a.user_id = ${userId} and a.metric = m.metric and a.period_start = ${periodStart.toISOString()}::timestamptz), 0)
      + coalesce((select sum(l.quantity) from usage_ledger l
                  where l.user_id = ${userId} and l.metric = m.metric and l.period_start = ${periodStart.toISOString()}::timestamptz
                    and l.rollup_id is null), 0)
    )::text as used
    from unnest(${[...metrics]}::text[]) as m(metric)`;
  for (const row of rows) result[row.metric] = Number(row.used);
  return result;
}

export interface SnapshotOptions {
  userId: string;
  metric: string;
  now?: Date;
  config?: UsageConfig;
}

/** "Used so far" in the user's current billing period. */
export async function getUsageSnapshot(sql: Sql, options: SnapshotOptions): Promise<UsageSnapshot> {
  const now = options.now ?? new Date();
  const period = await resolvePeriod(
    sql,
    options.userId,
    now,
    options.config ?? defaultUsageConfig(),
  );
  const used = await usedInPeriod(sql, options.userId, options.metric, period.start);
  return { used, periodStart: period.start, periodEnd: period.end, source: period.source };
}

export interface UsageSnapshots {
  used: Record<string, number>;
  periodStart: Date;
  periodEnd: Date;
  source: 'subscription' | 'free';
}

/** "Used so far" of several metrics in the current period (one statement for the sums). */
export async function getUsageSnapshots(
  sql: Sql,
  options: { userId: string; metrics: readonly string[]; now?: Date; config?: UsageConfig },
): Promise<UsageSnapshots> {
  const now = options.now ?? new Date();
  const period = await resolvePeriod(
    sql,
    options.userId,
    now,
    options.config ?? defaultUsageConfig(),
  );
  const used = await usedInPeriodByMetric(sql, options.userId, options.metrics, period.start);
  return { used, periodStart: period.start, periodEnd: period.end, source: period.source };
}
