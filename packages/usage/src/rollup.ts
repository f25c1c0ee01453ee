import type { Sql } from '@billing/db';
import { moduleLogger } from '@billing/logger';

const log = moduleLogger('usage.rollup');

export interface RollupProgress {
  rollupId: number;
  /** Ledger rows folded into usage_aggregates by this run so far (all committed). */
  rowsClaimed: number;
  chunks: number;
  done: boolean;
}

export interface RollupOptions {
  /** Only this user's rows; all users when absent. */
  userId?: string;
  /** Ledger rows per chunk (one short transaction each). Default 5,000. */
  chunkSize?: number;
  /** Called after each committed chunk and at the end; awaited before the next chunk. */
  onProgress?: (progress: RollupProgress) => unknown;
  /** Stops between chunks (shutdown); committed chunks stay, the rest waits for the next run. */
  signal?: AbortSignal;
}

export interface RollupResult {
  rollupId: number;
  status: 'completed' | 'aborted';
  rowsClaimed: number;
  chunks: number;
}

/**
 * Folds the ledger's live tail into usage_aggregates, per (user, metric, period).
 *
 * Each chunk is ONE statement (so one transaction): it claims up to `chunkSize` tail rows
 * (`UPDATE … SET rollup_id = <run> WHERE rollup_id IS NULL … RETURNING`) and feeds exactly
 * those rows into `INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE`. Claim and aggregate
 * commit together or not at all, so a row is never claimed-but-not-counted, and a claimed
 * row is never claimed again. A crash (or abort) between or inside chunks leaves every row
 * either folded once or still in the tail, and the next run folds the rest: idempotent and
 * resumable, with the same totals.
 *
 * Which rows are folded follows commit visibility: a row is in the tail until the chunk
 * that claims it commits. The id bound taken at the start only stops one run from chasing
 * ingestion forever; a row with a lower id that commits later is still in the tail (its
 * rollup_id is null) and the next run folds it into its own period.
 */
export async function rollup(sql: Sql, options: RollupOptions = {}): Promise<RollupResult> {
  const chunkSize = options.chunkSize ?? 5_000;
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new Error('rollup: chunkSize must be a positive integer');
  const userId = options.userId ?? null;

  const [run] = await sql<{ id: string; ledger_bound: string }[]>`
    insert into usage_rollups (user_id, ledger_bound)
    values (${userId}, (select coalesce(max(id), 0) from usage_ledger))
    returning id::text, ledger_bound::text`;
  const rollupId = Number(run!.id);
  const bound = run!.ledger_bound;
  log.info({ rollupId, userId, chunkSize }, 'roll-up started');

  let rowsClaimed = 0;
  let chunks = 0;
  try {
    for (;;) {
      if (options.signal?.aborted) {
        await sql`update usage_rollups set status = 'aborted', finished_at = now() where id = ${rollupId}`;
        log.info({ rollupId, rowsClaimed, chunks }, 'roll-up aborted between chunks');
        return { rollupId, status: 'aborted', rowsClaimed, chunks };
      }
      const claimed = await foldChunk(sql, rollupId, bound, userId, chunkSize);
      if (claimed === 0) break;
      rowsClaimed += claimed;
      chunks++;
      await options.onProgress?.({ rollupId, rowsClaimed, chunks, done: false });
    }
    await sql`update usage_rollups set status = 'completed', finished_at = now() where id = ${rollupId}`;
  } catch (error) {
    await sql`
      update usage_rollups set status = 'failed', finished_at = now(), error = ${String((error as Error)?.message ?? error).slice(0, 1000)}
      where id = ${rollupId}`.catch(() => undefined);
    throw error;
  }
  await options.onProgress?.({ rollupId, rowsClaimed, chunks, done: true });
  log.info({ rollupId, rowsClaimed, chunks }, 'roll-up completed');
  return { rollupId, status: 'completed', rowsClaimed, chunks };
}

/**
 * One chunk, one statement: claim, aggregate, count progress. `SKIP LOCKED` lets two runs
 * (say a one-user run next to the nightly one) share the tail instead of queueing; the
 * ORDER BY makes concurrent runs upsert aggregate rows in the same order (no deadlock).
 */
async function foldChunk(
  sql: Sql,
  rollupId: number,
  bound: string,
  userId: string | null,
  chunkSize: number,
) {
  const [row] = await sql<{ claimed: number }[]>`
    with picked as (
      select id from usage_ledger
      where rollup_id is null and id <= ${bound}::bigint
        ${userId === null ? sql`` : sql`and user_id = ${userId}`}
      limit ${chunkSize}
      for update skip locked
    ), claimed as (
      update usage_ledger l set rollup_id = ${rollupId}
      from picked where l.id = picked.id
      returning l.user_id, l.metric, l.period_start, l.quantity
    ), folded as (
      insert into usage_aggregates (user_id, metric, period_start, quantity, record_count, last_rollup_id)
      select user_id, metric, period_start, sum(quantity), count(*), ${rollupId}
      from claimed
      group by user_id, metric, period_start
      order by user_id, metric, period_start
      on conflict (user_id, metric, period_start) do update
        set quantity = usage_aggregates.quantity + excluded.quantity,
            record_count = usage_aggregates.record_count + excluded.record_count,
            last_rollup_id = excluded.last_rollup_id,
            updated_at = now()
      returning 1
    ), progress as (
      update usage_rollups
      set rows_claimed = rows_claimed + (select count(*) from claimed), chunks = chunks + 1
      where id = ${rollupId} and exists (select 1 from claimed)
      returning 1
    )
    select (select count(*) from claimed)::int as claimed,
           (select count(*) from folded)::int as groups,
           (select count(*) from progress)::int as progressed`;
  return row?.claimed ?? 0;
}
