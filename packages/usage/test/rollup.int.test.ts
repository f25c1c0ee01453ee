import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDb } from '@billing/db';
import { useTestServices } from '@billing/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ingestUsage } from '../src/ingest.js';
import { freePeriodAt } from '../src/period.js';
import { rollup } from '../src/rollup.js';
import { getUsageSnapshot } from '../src/snapshot.js';
import {
  aggregateTotals,
  directTotals,
  insertSubscription,
  METRICS,
  mulberry32,
  record,
  sortedEntries,
  splitTotals,
  tailCount,
  testConfig,
  waitForHorizon,
} from './helpers.js';

const services = await useTestServices('usage-rollup');
const { sql, close } = createDb({ url: services.databaseUrl, max: 12 });
afterAll(() => close());

const config = testConfig();

// Transactions a test holds open. An open write transaction holds back the cluster's
// transaction horizon, so a failed test must not leave one behind for the next ones.
type Reserved = Awaited<ReturnType<typeof sql.reserve>>;
const openTransactions = new Set<Reserved>();
async function beginHeld(): Promise<Reserved> {
  const tx = await sql.reserve();
  await tx`begin`;
  openTransactions.add(tx);
  return tx;
}
async function endHeld(tx: Reserved, how: 'commit' | 'rollback') {
  await tx.unsafe(how);
  openTransactions.delete(tx);
  tx.release();
}
afterEach(async () => {
  for (const tx of openTransactions) {
    await tx`rollback`.catch(() => undefined);
    tx.release();
  }
  openTransactions.clear();
});
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');

const expectSplitExact = async () =>
  expect(sortedEntries(await splitTotals(sql))).toEqual(sortedEntries(await directTotals(sql)));
const expectFullyRolledUp = async () => {
  expect(await tailCount(sql)).toBe(0);
  expect(sortedEntries(await aggregateTotals(sql))).toEqual(sortedEntries(await directTotals(sql)));
  const [counts] = await sql`
    select (select coalesce(sum(record_count), 0) from usage_aggregates)::int as folded,
           (select count(*) from usage_ledger)::int as rows`;
  expect(counts!.folded).toBe(counts!.rows);
};
const resetTables = () =>
  sql`truncate usage_ledger, usage_aggregates, usage_rollups, subscriptions`;

/** Ingests `perUser` records per user, `batch` records per request (one transaction each). */
async function ingestMany(
  users: string[],
  perUser: number,
  at: Date,
  prefix: string,
  batch = 1000,
) {
  const records = users.flatMap((userId) =>
    Array.from({ length: perUser }, (_, i) =>
      record(
        userId,
        `${prefix}-${i}`,
        1 + (i % 5),
        new Date(at.getTime() - i * 1000),
        METRICS[i % 2],
      ),
    ),
  );
  for (let i = 0; i < records.length; i += batch) {
    await ingestUsage(sql, records.slice(i, i + batch), {
      atomic: true,
      metrics: METRICS,
      now: at,
      config,
    });
  }
  return records.length;
}

describe('roll-up totals', () => {
  it('equal a direct SUM over the ledger for every user, metric and period after a randomised mix of in-order and late records', async () => {
    await resetTables();
    const seed = 20260320;
    const random = mulberry32(seed);
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
    await insertSubscription(sql, {
      userId: 'sub_monthly',
      start: new Date('2026-01-10T06:00:00Z'),
      end: new Date('2026-02-10T06:00:00Z'),
      createdAt: new Date('2025-10-10T06:00:00Z'),
    });
    await insertSubscription(sql, {
      userId: 'sub_yearly',
      start: new Date('2025-09-01T00:00:00Z'),
      end: new Date('2026-09-01T00:00:00Z'),
      interval: 'year',
    });
    await insertSubscription(sql, {
      userId: 'sub_new',
      start: new Date('2026-02-20T00:00:00Z'),
      end: new Date('2026-03-20T00:00:00Z'),
    });
    const users = ['sub_monthly', 'sub_yearly', 'sub_new', 'free_1', 'free_2', 'free_3'];
    const sent: ReturnType<typeof record>[] = [];
    let now = new Date('2026-01-15T00:00:00Z');
    let key = 0;
    for (let step = 0; step < 60; step++) {
      now = new Date(now.getTime() + Math.floor(random() * 3 * 86_400_000)); // ~4 months in all
      const batch: ReturnType<typeof record>[] = [];
      for (let i = 0; i < 20 + Math.floor(random() * 40); i++) {
        const late = random() < 0.25;
        // late: up to 70 days back (some within the grace window, most beyond it)
        const back = late
          ? Math.floor(random() * 70 * 86_400_000)
          : Math.floor(random() * 3_600_000);
        batch.push(
          record(
            pick(users),
            `k${key++}`,
            1 + Math.floor(random() * 9),
            new Date(now.getTime() - back),
            pick(METRICS),
          ),
        );
      }
      for (let i = 0; i < 3 && sent.length > 0; i++) batch.push(pick(sent)); // client retries
      const result = await ingestUsage(sql, batch, {
        atomic: false,
        metrics: METRICS,
        now,
        config,
      });
      expect(result.rejected).toEqual([]);
      sent.push(...batch);
      if (random() < 0.3) {
        await rollup(sql, { chunkSize: 1 + Math.floor(random() * 60) });
        await expectSplitExact();
      }
      if (random() < 0.15) {
        // a one-user run takes that user's totals past the all-users progress: the next
        // all-users chunk must skip what those totals already cover
        await rollup(sql, { userId: pick(users), chunkSize: 1 + Math.floor(random() * 60) });
        await expectSplitExact();
      }
    }
    await expectSplitExact();
    await waitForHorizon(sql);
    await rollup(sql, { chunkSize: 37 });
    await expectFullyRolledUp();
    // the mix really contained late records booked as adjustments and rows in several periods
    const [mix] = await sql`
      select count(*) filter (where original_period_start is not null)::int as adjusted,
             count(distinct period_start)::int as periods from usage_ledger`;
    expect(mix!.adjusted).toBeGreaterThan(0);
    expect(mix!.periods).toBeGreaterThan(5);
  });

  it('a second run over a fully rolled-up ledger changes nothing', async () => {
    const before = await aggregateTotals(sql);
    const result = await rollup(sql, { chunkSize: 10 });
    expect(result).toMatchObject({ status: 'completed', rowsClaimed: 0 });
    expect(await aggregateTotals(sql)).toEqual(before);
  });

  it('one user only: folds that user and leaves the others in the tail', async () => {
    await resetTables();
    const at = new Date('2026-03-20T12:00:00Z');
    await ingestMany(['one_a', 'one_b'], 30, at, 'one', 10);
    await waitForHorizon(sql);
    const result = await rollup(sql, { userId: 'one_a', chunkSize: 7 });
    expect(result.rowsClaimed).toBe(30);
    expect(await tailCount(sql, 'one_a')).toBe(0);
    expect(await tailCount(sql, 'one_b')).toBe(30);
    await expectSplitExact();
    // the next all-users run starts below one_a's totals and folds only one_b's rows
    const all = await rollup(sql, { chunkSize: 7 });
    expect(all.rowsClaimed).toBe(30);
    await expectFullyRolledUp();
  });

  it('large chunks on an analyzed ledger may end at the horizon on the estimate; totals stay exact and small chunks still walk', async () => {
    await resetTables();
    const at = new Date('2026-03-21T12:00:00Z');
    await ingestMany(['est_a', 'est_b'], 40, at, 'est', 10);
    await waitForHorizon(sql);
    await sql`analyze usage_ledger`;
    // Rows written after the statistics were taken: the estimate must not lose them.
    await ingestMany(['est_a', 'est_b'], 40, at, 'est-late', 10);
    await waitForHorizon(sql);
    const large = await rollup(sql, { chunkSize: 100_000 });
    expect(large).toMatchObject({ status: 'completed', rowsClaimed: 160, chunks: 1 });
    await expectFullyRolledUp();

    // The same analyzed table with small chunks: bounded by the walk, one 10-row
    // transaction per chunk.
    await ingestMany(['est_a'], 30, at, 'est-small', 10);
    await waitForHorizon(sql);
    const small = await rollup(sql, { chunkSize: 10 });
    expect(small).toMatchObject({ status: 'completed', rowsClaimed: 30, chunks: 3 });
    await expectFullyRolledUp();
  });
});

describe('concurrent runs', () => {
  it('two all-users runs and a one-user run at once fold every row exactly once between them', async () => {
    await resetTables();
    const at = new Date('2026-03-20T12:00:00Z');
    const rows = await ingestMany(['co_a', 'co_b', 'co_c'], 100, at, 'co', 10);
    await waitForHorizon(sql);
    const runs = await Promise.all([
      rollup(sql, { chunkSize: 10 }),
      rollup(sql, { chunkSize: 25 }),
      rollup(sql, { userId: 'co_b', chunkSize: 7 }),
    ]);
    expect(runs.map((run) => run.status)).toEqual(['completed', 'completed', 'completed']);
    expect(runs.reduce((sum, run) => sum + run.rowsClaimed, 0)).toBe(rows);
    await expectFullyRolledUp();
  });
});

describe('crash and resume', () => {
  it('a roll-up process SIGKILLed mid-run and then re-run gives the same totals', async () => {
    await resetTables();
    const at = new Date('2026-03-20T12:00:00Z');
    // 150 transactions of 20 rows: a chunk of 20 rows is one transaction's rows
    const rows = await ingestMany(['crash_a', 'crash_b', 'crash_c'], 1000, at, 'crash', 20);
    const truth = sortedEntries(await directTotals(sql));
    await waitForHorizon(sql);

    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(here, 'fixtures/rollup-child.ts'), services.databaseUrl, '20'],
      {
        cwd: repoRoot,
        env: { ...process.env, NODE_ENV: 'test' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const killed = await new Promise<{ progressLines: number; finished: boolean }>((resolve) => {
      let lines = 0;
      let finished = false;
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) {
          if (line.startsWith('progress')) lines++;
          if (line === 'done') finished = true;
          if (lines >= 5 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
        }
      });
      child.on('exit', () => resolve({ progressLines: lines, finished }));
    });
    expect(killed.finished).toBe(false);
    expect(killed.progressLines).toBeGreaterThanOrEqual(5);

    // Whatever the kill interrupted, every row is either folded once or still in the tail.
    const tail = await tailCount(sql);
    expect(tail).toBeGreaterThan(0);
    expect(tail).toBeLessThan(rows);
    await expectSplitExact();
    const [stale] =
      await sql`select status, through_txid::text from usage_rollups order by id limit 1`;
    expect(stale!.status).toBe('running');

    // the re-run goes on from the killed run's last committed chunk and folds exactly the tail
    const rerun = await rollup(sql, { chunkSize: 500 });
    expect(rerun.fromTxid).toBe(stale!.through_txid);
    expect(rerun.rowsClaimed).toBe(tail);
    await expectFullyRolledUp();
    expect(sortedEntries(await aggregateTotals(sql))).toEqual(truth);
  });

  it('a chunk whose backend is terminated mid-transaction (rows summed, aggregate not yet written) leaves those rows in the tail', async () => {
    await resetTables();
    const at = new Date('2026-03-20T12:00:00Z');
    await ingestMany(['term_a'], 40, at, 'first');
    await waitForHorizon(sql);
    await rollup(sql, { chunkSize: 100 });
    await ingestMany(['term_a'], 40, at, 'second');
    await waitForHorizon(sql);

    // Hold the aggregate rows so the next chunk sums its ledger rows, then waits on the upsert
    // (pg_stat_activity shows the statement's first 1 KB: its ledger read, not the upsert).
    const blocker = await beginHeld();
    await blocker`select * from usage_aggregates where user_id = 'term_a' for update`;
    const running = rollup(sql, { userId: 'term_a', chunkSize: 100 }).then(
      () => 'finished',
      (error: Error) => error.message,
    );
    const pid = await waitForLockWaiter();
    // mid-chunk, uncommitted: "used so far" is still exact
    await expectSnapshotMatchesDirect('term_a', at);
    await sql`select pg_terminate_backend(${pid})`;
    expect(await running).not.toBe('finished');
    await endHeld(blocker, 'rollback');

    expect(await tailCount(sql)).toBe(40);
    await expectSplitExact();
    await rollup(sql, { chunkSize: 15 });
    await expectFullyRolledUp();
  });

  it('a roll-up aborted between chunks stops, and the next run completes with the same totals', async () => {
    await resetTables();
    const at = new Date('2026-03-20T12:00:00Z');
    await ingestMany(['abort_a', 'abort_b'], 100, at, 'abort', 10);
    await waitForHorizon(sql);
    const controller = new AbortController();
    const first = await rollup(sql, {
      chunkSize: 10,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.chunks === 3) controller.abort();
      },
    });
    expect(first).toMatchObject({ status: 'aborted', rowsClaimed: 30, chunks: 3 });
    await expectSplitExact();
    const second = await rollup(sql, { chunkSize: 25 });
    expect(second.rowsClaimed).toBe(170);
    expect(second.chunks).toBe(6); // 170 rows, 10 per transaction, at least 25 per chunk
    await expectFullyRolledUp();
    const statuses = await sql`select status from usage_rollups order by id`;
    expect(statuses.map((r) => r.status)).toEqual(['aborted', 'completed']);
  });
});

async function waitForLockWaiter(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const [row] = await sql`
      select pid from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and query like '%from usage_ledger chunk_rows%'`;
    if (row) return row.pid as number;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the roll-up chunk never blocked on the aggregate row');
}

async function directSum(userId: string, periodStart: Date) {
  const [row] = await sql`
    select coalesce(sum(quantity), 0)::int as total from usage_ledger
    where user_id = ${userId} and metric = 'compute_minutes' and period_start = ${periodStart.toISOString()}::timestamptz`;
  return row!.total as number;
}

async function expectSnapshotMatchesDirect(userId: string, now: Date) {
  const snapshot = await getUsageSnapshot(sql, { userId, metric: 'compute_minutes', now, config });
  expect(snapshot.used).toBe(await directSum(userId, snapshot.periodStart));
  return snapshot.used;
}

describe('"used so far" while a roll-up runs', () => {
  it('equals the direct SUM before, during and after a roll-up, with concurrent ingestion and a transaction that commits after the roll-up started', async () => {
    await resetTables();
    const userId = 'live_user';
    const now = new Date('2026-03-20T12:00:00Z');
    const period = freePeriodAt(now, config);
    await ingestMany([userId], 100, now, 'before', 10);
    await waitForHorizon(sql);

    // 1. A writer begins first, so its row takes a LOWER id than everything below, but commits
    //    only after the roll-up has folded several chunks: an id or time watermark would skip it.
    const held = await beginHeld();
    await held`
      insert into usage_ledger (user_id, metric, quantity, occurred_at, period_start, idempotency_key)
      values (${userId}, 'compute_minutes', 1000, ${now.toISOString()}::timestamptz,
              ${period.start.toISOString()}::timestamptz, 'committed-late')`;
    const [heldTx] = await held`select pg_current_xact_id()::text as txid`;
    await ingestMany([userId], 200, now, 'after', 10);

    // 2. Ingestion keeps going in the background; every read is bracketed by direct sums.
    let stop = false;
    let writes = 0;
    const writer = (async () => {
      while (!stop) {
        await ingestUsage(sql, [record(userId, `bg-${writes++}`, 1, now)], {
          atomic: false,
          metrics: METRICS,
          now,
          config,
        });
      }
    })();
    const bracketed = async () => {
      const low = await directSum(userId, period.start);
      const { used } = await getUsageSnapshot(sql, {
        userId,
        metric: 'compute_minutes',
        now,
        config,
      });
      const high = await directSum(userId, period.start);
      expect(used).toBeGreaterThanOrEqual(low);
      expect(used).toBeLessThanOrEqual(high);
    };
    const reader = (async () => {
      while (!stop) await bracketed();
    })();

    let committedAtChunk = 0;
    const result = await rollup(sql, {
      chunkSize: 15,
      onProgress: async (p) => {
        await bracketed();
        if (p.chunks === 3) {
          await endHeld(held, 'commit');
          committedAtChunk = p.chunks;
          await bracketed();
        }
      },
    });
    stop = true;
    await Promise.all([writer, reader]);
    expect(committedAtChunk).toBe(3);
    // The open transaction held the horizon at or below its own id: the run folded the 100
    // rows written before it (ten transactions, two per chunk of >= 15 rows) and nothing after.
    expect(BigInt(result.horizonTxid)).toBeLessThanOrEqual(BigInt(heldTx!.txid as string));
    expect(result).toMatchObject({ status: 'completed', rowsClaimed: 100, chunks: 5 });

    // 3. Quiet again: exact, and the late-committed row is counted exactly once.
    const used = await expectSnapshotMatchesDirect(userId, now);
    expect(used).toBeGreaterThanOrEqual(1000);
    await expectSplitExact();
    await waitForHorizon(sql);
    await rollup(sql, { chunkSize: 50 });
    await expectFullyRolledUp();
    expect(await expectSnapshotMatchesDirect(userId, now)).toBe(used);
    const [late] = await sql`
      select l.txid < a.through_txid as folded from usage_ledger l
      join usage_aggregates a on a.user_id = l.user_id and a.metric = l.metric and a.period_start = l.period_start
      where l.idempotency_key = 'committed-late'`;
    expect(late!.folded).toBe(true);
  });

  it('a transaction that began before the run and commits after it started stays in the tail, and the next run folds it exactly once', async () => {
    await resetTables();
    const userId = 'straddle_user';
    const now = new Date('2026-03-20T12:00:00Z');
    const period = freePeriodAt(now, config);
    await ingestMany([userId], 60, now, 'base', 10);
    await waitForHorizon(sql);
    const insertLate = (q: typeof sql, key: string, quantity: number) => q`
      insert into usage_ledger (user_id, metric, quantity, occurred_at, period_start, idempotency_key)
      values (${userId}, 'compute_minutes', ${quantity}, ${now.toISOString()}::timestamptz,
              ${period.start.toISOString()}::timestamptz, ${key})
      returning txid::text`;
    const aggregate = async () => {
      const [row] = await sql`
        select quantity::int as quantity from usage_aggregates
        where user_id = ${userId} and metric = 'compute_minutes' and period_start = ${period.start.toISOString()}::timestamptz`;
      return (row?.quantity as number | undefined) ?? 0;
    };

    // Two writers open before the run: one has written (it has a txid), one has only read (it
    // gets its txid when it writes, after the run started).
    const early = await beginHeld();
    const [earlyRow] = await insertLate(early, 'began-and-wrote-before', 1000);
    const idle = await beginHeld();
    await idle`select 1`;
    // A later transaction commits before the run: the newest finished txid is then above the
    // open writer's, and only the oldest running one (pg_snapshot_xmin) keeps it out.
    await ingestMany(['bystander'], 1, now, 'bystander');

    let idleTxid = '';
    const first = await rollup(sql, {
      chunkSize: 10,
      onProgress: async (p) => {
        if (p.chunks !== 1) return;
        const [idleRow] = await insertLate(idle, 'began-before-wrote-after', 500);
        idleTxid = idleRow!.txid as string;
        await endHeld(early, 'commit');
        await endHeld(idle, 'commit');
        // committed after the run started: in the tail, so "used so far" counts both at once
        await expectSnapshotMatchesDirect(userId, now);
      },
    });
    expect(idleTxid).not.toBe('');
    expect(BigInt(first.horizonTxid)).toBeLessThanOrEqual(BigInt(earlyRow!.txid as string));
    expect(BigInt(first.horizonTxid)).toBeLessThanOrEqual(BigInt(idleTxid));
    // the run folded the base rows and neither late row; both are in the tail
    expect(first.rowsClaimed).toBe(60);
    const direct = await directSum(userId, period.start);
    expect(await aggregate()).toBe(direct - 1500);
    expect(await tailCount(sql, userId)).toBe(2);
    expect(await expectSnapshotMatchesDirect(userId, now)).toBe(direct);

    // The next run starts where the first one ended and folds exactly the two late rows (and
    // the bystander's).
    await waitForHorizon(sql);
    const second = await rollup(sql, { chunkSize: 10 });
    expect(second.fromTxid).toBe(first.horizonTxid);
    expect(second.rowsClaimed).toBe(3);
    expect(await aggregate()).toBe(direct);
    await expectFullyRolledUp();
    expect(await expectSnapshotMatchesDirect(userId, now)).toBe(direct);

    // and never again
    const third = await rollup(sql, { chunkSize: 10 });
    expect(third.rowsClaimed).toBe(0);
    expect(await aggregate()).toBe(direct);
  });
});
