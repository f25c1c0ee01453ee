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
 * Exact usage of one (user, metric, period): the rolled-up total plus the live tail, in ONE
 * statement, so both halves come from one snapshot. The aggregate row carries the pair
 * (quantity, through_txid), quantity being the SUM of the group's ledger rows with
 * txid < through_txid; the tail is the rows with txid >= that through_txid (all of them when
 * there is no aggregate yet). This is exact at any moment, also while a roll-up runs:
 * - a roll-up chunk updates quantity and through_txid together, so the snapshot sees the old
 *   pair or the new one, never a mix, and splits the rows at that pair's through_txid;
 * - through_txid is never above the roll-up's horizon, below which every transaction had
 *   finished before the chunk even started: the snapshot sees every committed row below it,
 *   so the rows inside the total are exactly the ones it does not count in the tail. A row
 *   that commits late has a txid at or above the horizon and stays in the tail until a later
 *   run folds it.
 * Two statements under READ COMMITTED could straddle a chunk's commit and count it twice or
 * not at all. The tail is a range scan (index-only) of `usage_ledger_group_txid_idx`.
 */
export async function usedInPeriod(
  sql: Sql,
  userId: string,
  metric: string,
  periodStart: Date,
): Promise<number> {
  const [row] = await sql<{ used: string }[]>`
    select (
      coalesce(a.quantity, 0)
      + coalesce((select sum(tail.quantity) from usage_ledger tail
                  where tail.user_id = k.user_id and tail.metric = k.metric and tail.period_start = k.period_start
                    and tail.txid >= coalesce(a.through_txid, '0'::xid8)), 0)
    )::text as used
    from (select ${userId}::text as user_id, ${metric}::text as metric,
                 ${periodStart.toISOString()}::timestamptz as period_start) k
    left join usage_aggregates a
      on a.user_id = k.user_id and a.metric = k.metric and a.period_start = k.period_start`;
  return Number(row?.used ?? 0);
}

/**
 * `usedInPeriod` together with the snapshot it was read in (`pg_current_snapshot()` in the
 * same statement is the statement's own snapshot): the limiter's seed, "the total as of a
 * known point", so a later write can tell whether its rows are in it.
 */
export async function usedInPeriodAt(
  sql: Sql,
  userId: string,
  metric: string,
  periodStart: Date,
): Promise<{ used: number; snapshot: string }> {
  const [row] = await sql<{ used: string; snapshot: string }[]>`
    select (
      coalesce(a.quantity, 0)
      + coalesce((select sum(tail.quantity) from usage_ledger tail
                  where tail.user_id = k.user_id and tail.metric = k.metric and tail.period_start = k.period_start
                    and tail.txid >= coalesce(a.through_txid, '0'::xid8)), 0)
    )::text as used, pg_current_snapshot()::text as snapshot
    from (select ${userId}::text as user_id, ${metric}::text as metric,
                 ${periodStart.toISOString()}::timestamptz as period_start) k
    left join usage_aggregates a
      on a.user_id = k.user_id and a.metric = k.metric and a.period_start = k.period_start`;
  if (!row) throw new Error('usedInPeriodAt: no row');
  return { used: Number(row.used), snapshot: row.snapshot };
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
