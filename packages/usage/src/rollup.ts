import type { Sql } from '@billing/db';
import { moduleLogger } from '@billing/logger';
import type postgres from 'postgres';

const log = moduleLogger('usage.rollup');

/**
 * Ledger rows per chunk by default. A chunk only READS its rows; what it writes is one upsert
 * per (user, metric, period) it touches, and a group with rows in several chunks is upserted
 * once per chunk. So the cost of a run is rows read + groups × chunks: chunks are sized in
 * millions of rows (a few seconds each), not thousands. See packages/usage/README.md.
 */
export const DEFAULT_ROLLUP_CHUNK_SIZE = 10_000_000;

/** All roll-up chunks, of every run, take this transaction-scoped advisory lock. */
const ROLLUP_LOCK_KEY = 'billing:usage:rollup';

export interface RollupProgress {
  rollupId: number;
  /** Ledger rows folded into usage_aggregates by this run so far (all committed). */
  rowsClaimed: number;
  /** Committed chunks that folded at least one row. */
  chunks: number;
  done: boolean;
}

export interface RollupOptions {
  /** Only this user's rows; all users when absent. */
  userId?: string;
  /**
   * Ledger rows per chunk (one transaction each), at least: rows of one transaction are never
   * split across chunks. Default {@link DEFAULT_ROLLUP_CHUNK_SIZE}.
   */
  chunkSize?: number;
  /** Called after each committed chunk and at the end; awaited before the next chunk. */
  onProgress?: (progress: RollupProgress) => unknown;
  /** Stops between chunks (shutdown); committed chunks stay, the rest waits for the next run. */
  signal?: AbortSignal;
}

export interface RollupResult {
  rollupId: number;
  status: 'completed' | 'aborted';
  /** Ledger rows this run folded into usage_aggregates. */
  rowsClaimed: number;
  chunks: number;
  /** The run covered ledger rows with `fromTxid <= txid < horizonTxid` (xid8 as text). */
  fromTxid: string;
  horizonTxid: string;
}

/**
 * Folds the ledger's live tail into usage_aggregates, per (user, metric, period), with a
 * transaction-id watermark instead of marking ledger rows (DESIGN invariant 8):
 *
 * 1. The run takes its horizon H = `pg_snapshot_xmin(pg_current_snapshot())`: every
 *    transaction with a lower id had finished, so the ledger rows below H are fixed and visible
 *    to every later snapshot. Rows of transactions still open (ids >= H) wait for the next run.
 * 2. It starts at `from` = the furthest progress (`usage_rollups.through_txid`) of any run that
 *    covers its scope: all-users runs, plus this user's runs for a one-user run. Every row of
 *    the scope below that point is already folded, whether that run completed or was killed.
 * 3. Chunks split [from, H) into txid ranges of at least `chunkSize` rows (one transaction's
 *    rows never split). Each chunk, in ONE transaction under an advisory lock: reads its rows,
 *    sums them per group (skipping those a group's `through_txid` already covers, which a
 *    one-user run or an interrupted run may have folded), adds the sums with `INSERT … SELECT …
 *    GROUP BY … ON CONFLICT DO UPDATE`, sets each touched group's `through_txid` to the chunk's
 *    upper bound, and records the run's progress. So at every commit each aggregate is exactly
 *    the SUM of its rows below its `through_txid`, and a crash loses at most the open chunk.
 *
 * The lock serialises chunks of concurrent runs, so the `through_txid` a chunk reads cannot
 * change before its upsert; two runs interleave chunk by chunk and each starts its next chunk
 * at the other's progress, never folding a row twice.
 */
export async function rollup(sql: Sql, options: RollupOptions = {}): Promise<RollupResult> {
  const chunkSize = options.chunkSize ?? DEFAULT_ROLLUP_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new Error('rollup: chunkSize must be a positive integer');
  const userId = options.userId ?? null;

  // Steps 1 and 2 in one statement; the insert's own transaction id comes after its snapshot.
  const [run] = await sql<{ id: string; from_txid: string; horizon_txid: string }[]>`
    insert into usage_rollups (user_id, from_txid, horizon_txid, through_txid)
    select ${userId}, s.from_txid, s.horizon_txid, s.from_txid
    from (
      select pg_snapshot_xmin(pg_current_snapshot()) as horizon_txid,
             (${progressOfScope(sql, userId)}) as from_txid
    ) s
    returning id::text, from_txid::text, horizon_txid::text`;
  const rollupId = Number(run!.id);
  const fromTxid = run!.from_txid;
  const horizonTxid = run!.horizon_txid;
  log.info({ rollupId, userId, chunkSize, fromTxid, horizonTxid }, 'roll-up started');

  let rowsClaimed = 0;
  let chunks = 0;
  try {
    for (;;) {
      if (options.signal?.aborted) {
        await sql`update usage_rollups set status = 'aborted', finished_at = now() where id = ${rollupId}`;
        log.info({ rollupId, rowsClaimed, chunks }, 'roll-up aborted between chunks');
        return { rollupId, status: 'aborted', rowsClaimed, chunks, fromTxid, horizonTxid };
      }
      const step = await foldChunk(sql, { rollupId, userId, horizonTxid, chunkSize });
      if (step.rows > 0) {
        rowsClaimed += step.rows;
        chunks++;
        await options.onProgress?.({ rollupId, rowsClaimed, chunks, done: false });
      }
      if (step.done) break;
    }
    // Completed: every row of the scope below the horizon is folded (by this run, or by one
    // that got further first), whatever the last chunk recorded.
    await sql`
      update usage_rollups set status = 'completed', finished_at = now(), through_txid = horizon_txid
      where id = ${rollupId}`;
  } catch (error) {
    await sql`
      update usage_rollups set status = 'failed', finished_at = now(), error = ${String((error as Error)?.message ?? error).slice(0, 1000)}
      where id = ${rollupId}`.catch(() => undefined);
    throw error;
  }
  await options.onProgress?.({ rollupId, rowsClaimed, chunks, done: true });
  log.info({ rollupId, rowsClaimed, chunks }, 'roll-up completed');
  return { rollupId, status: 'completed', rowsClaimed, chunks, fromTxid, horizonTxid };
}

/**
 * The furthest point below which every ledger row of the scope is folded: the progress of
 * all-users runs, and for one user also that user's runs ('0' when there is none). Runs from
 * before the watermark have no progress and count as '0'.
 */
function progressOfScope(sql: Sql | postgres.TransactionSql, userId: string | null) {
  return sql`
    select coalesce(max(r.through_txid), '0'::xid8) from usage_rollups r
    where r.through_txid is not null
      and (r.user_id is null ${userId === null ? sql`` : sql`or r.user_id = ${userId}`})`;
}

interface ChunkStep {
  /** Rows folded by this chunk (0 when its range held none the aggregates lacked). */
  rows: number;
  /** The run has reached its horizon. */
  done: boolean;
}

/** Chunks of at least this many rows may end at the horizon on the planner's estimate. */
const ESTIMATE_CHUNKS_FROM = 100_000;

/**
 * The planner's estimate of the scope's ledger rows in [from, to), without reading them.
 * Past the statistics' last histogram bucket Postgres reads the txid index's actual end, so
 * rows written since the last ANALYZE still count. A table never analyzed gets the planner's
 * default selectivity, far too low: then the estimate is not used (Infinity).
 */
async function estimateRows(
  tx: postgres.TransactionSql,
  from: string,
  to: string,
  userId: string | null,
): Promise<number> {
  const [analyzed] = await tx<{ ok: boolean }[]>`
    select coalesce(last_analyze, last_autoanalyze) is not null as ok
    from pg_stat_user_tables where relid = 'usage_ledger'::regclass`;
  if (!analyzed?.ok) return Number.POSITIVE_INFINITY;
  const [plan] = await tx<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }[]>`
    explain (format json) select 1 from usage_ledger
    where txid >= ${from}::xid8 and txid < ${to}::xid8
      ${userId === null ? tx`` : tx`and user_id = ${userId}`}`;
  return plan?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? Number.POSITIVE_INFINITY;
}

/** Step 3: one chunk, one transaction. */
async function foldChunk(
  sql: Sql,
  run: { rollupId: number; userId: string | null; horizonTxid: string; chunkSize: number },
): Promise<ChunkStep> {
  const { rollupId, userId, horizonTxid, chunkSize } = run;
  const horizon = BigInt(horizonTxid);
  return sql.begin(async (tx) => {
    // a. Serialise with every other chunk. (work_mem is left as configured: raising it here
    //    made the planner trade a group-ordered index-only scan for a slower hash aggregate.)
    await tx`select pg_advisory_xact_lock(hashtextextended(${ROLLUP_LOCK_KEY}, 0))`;

    // b. Where to start (this run's progress, or further if another run got there first),
    //    and where the chunk ends: just above the txid of the chunkSize-th row from the start.
    //    That walk reads the txid index over the whole chunk (~0.1 µs a row here: at 5 M rows
    //    a third of what the fold itself costs), so for large chunks it is skipped when the
    //    planner expects the rest of the range to fit in the chunk anyway: the chunk then runs
    //    to the horizon. An estimate that is off only makes that one transaction longer (it
    //    holds no ledger locks); which rows are folded never depends on it. Small chunks
    //    always walk: it is cheap there, and their boundaries stay exact.
    const [start] = await tx<{ from: string }[]>`
      select (${progressOfScope(tx, userId)})::text as from`;
    if (BigInt(start!.from) >= horizon) return { rows: 0, done: true };
    const fits =
      chunkSize >= ESTIMATE_CHUNKS_FROM &&
      (await estimateRows(tx, start!.from, horizonTxid, userId)) <= chunkSize;
    const [bounds] = fits
      ? [{ from: start!.from, last: null }]
      : await tx<{ from: string; last: string | null }[]>`
      with start as (select ${start!.from}::xid8 as c)
      select start.c::text as from,
             (select next_rows.txid from usage_ledger next_rows
              where next_rows.txid >= start.c and next_rows.txid < ${horizonTxid}::xid8
                ${userId === null ? tx`` : tx`and next_rows.user_id = ${userId}`}
              order by next_rows.txid offset ${chunkSize - 1} limit 1)::text as last
      from start`;
    const from = BigInt(bounds!.from);
    if (from >= horizon) return { rows: 0, done: true };
    const to = bounds!.last === null ? horizon : BigInt(bounds!.last) + 1n;

    // c. Fold [from, to). `due` is exact per group: rows below a group's through_txid are in
    //    its total already (the lock keeps that value fixed until the upsert below).
    const [result] = await tx<{ rows: string; groups: number; due_groups: number }[]>`
      with chunk as (
        select chunk_rows.user_id, chunk_rows.metric, chunk_rows.period_start,
               sum(chunk_rows.quantity) as quantity, count(*) as n
        from usage_ledger chunk_rows
        where chunk_rows.txid >= ${from.toString()}::xid8 and chunk_rows.txid < ${to.toString()}::xid8
          ${userId === null ? tx`` : tx`and chunk_rows.user_id = ${userId}`}
        group by chunk_rows.user_id, chunk_rows.metric, chunk_rows.period_start
      ), due as (
        select c.user_id, c.metric, c.period_start,
               case when a.through_txid is null or a.through_txid <= ${from.toString()}::xid8 then c.quantity
                    else (select coalesce(sum(l.quantity), 0) from usage_ledger l
                          where l.user_id = c.user_id and l.metric = c.metric and l.period_start = c.period_start
                            and l.txid >= a.through_txid and l.txid < ${to.toString()}::xid8) end as quantity,
               case when a.through_txid is null or a.through_txid <= ${from.toString()}::xid8 then c.n
                    else (select count(*) from usage_ledger l
                          where l.user_id = c.user_id and l.metric = c.metric and l.period_start = c.period_start
                            and l.txid >= a.through_txid and l.txid < ${to.toString()}::xid8) end as n
        from chunk c
        left join usage_aggregates a
          on a.user_id = c.user_id and a.metric = c.metric and a.period_start = c.period_start
      ), folded as (
        insert into usage_aggregates as agg
          (user_id, metric, period_start, quantity, record_count, through_txid, last_rollup_id)
        select user_id, metric, period_start, quantity, n, ${to.toString()}::xid8, ${rollupId}
        from due where n > 0
        order by user_id, metric, period_start
        on conflict (user_id, metric, period_start) do update
          set quantity = agg.quantity + excluded.quantity,
              record_count = agg.record_count + excluded.record_count,
              through_txid = excluded.through_txid,
              last_rollup_id = excluded.last_rollup_id,
              updated_at = now()
          where agg.through_txid < excluded.through_txid
        returning 1
      ), progress as (
        update usage_rollups
        set through_txid = ${to.toString()}::xid8,
            rows_claimed = rows_claimed + (select coalesce(sum(n), 0) from due where n > 0),
            chunks = chunks + (select case when exists (select 1 from due where n > 0) then 1 else 0 end)
        where id = ${rollupId}
        returning 1
      )
      select (select coalesce(sum(n), 0) from due where n > 0)::text as rows,
             (select count(*) from folded)::int as groups,
             (select count(*) from due where n > 0)::int as due_groups,
             (select count(*) from progress)::int as progressed`;
    // The upsert's guard only skips a group whose total moved past this chunk meanwhile, which
    // the lock rules out: if it ever happens, roll the chunk back rather than lose its rows.
    if (result!.groups !== result!.due_groups) {
      throw new Error(
        `rollup: ${result!.due_groups - result!.groups} aggregate(s) changed under the roll-up lock`,
      );
    }
    return { rows: Number(result!.rows), done: to >= horizon };
  });
}
