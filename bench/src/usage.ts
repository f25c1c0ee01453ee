/**
 * Benchmark 4: usage.
 *  a) Ingestion: records/s stored through `POST /api/usage` (batches of 1,000, the real API
 *     process, autocannon) against a raw multi-row INSERT of the same records through
 *     postgres.js at the same concurrency.
 *  b) Nightly roll-up of BENCH_ROLLUP_ROWS ledger rows (5,000,000 by default, generated in
 *     transactions of 1,000 rows as ingestion writes them) by `rollup()` from @billing/usage,
 *     against one `INSERT … SELECT … GROUP BY` statement run by psql over the same rows,
 *     BENCH_ROUNDS alternating rounds (medians), then rollup() at smaller chunk sizes. Target
 *     ≥ 0.8 (ratio = plain statement time / roll-up time).
 *
 *   pnpm --filter @billing/bench usage            (both)
 *   pnpm --filter @billing/bench usage --ingest   (a only)   --rollup (b only)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_ROLLUP_CHUNK_SIZE, rollup } from '@billing/usage';
import postgres from 'postgres';
import {
  BENCH_SERVICE_TOKEN,
  BENCH_WEBHOOK_SECRET,
  benchEnv,
  freshDatabase,
  mb,
  median,
  RedisServer,
  ratioLine,
  round,
  runId,
  runLoad,
  startApiApp,
  table,
  writeRequests,
} from './lib/index.js';
import { saveResult } from './results.js';

const TOKEN = BENCH_SERVICE_TOKEN;
const BATCH = 1_000;
const CONNECTIONS = 4;
const METRIC = 'compute_minutes';

interface UsageRecord {
  userId: string;
  metric: string;
  quantity: number;
  occurredAt: string;
  idempotencyKey: string;
}

function records(count: number, id: string, users = 500): UsageRecord[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, n) => ({
    userId: `user_${id}_${n % users}`,
    metric: METRIC,
    quantity: 1 + (n % 7),
    occurredAt: new Date(now - 60_000 - (n % 3_600) * 1_000).toISOString(),
    idempotencyKey: `${id}-${n}`,
  }));
}

async function ingestion(env: ReturnType<typeof benchEnv>, databaseUrl: string, logDir: string) {
  const redis = await new RedisServer({ appendonly: true }).start();
  const api = await startApiApp(
    // Development mode: no Stripe key, so nothing here can reach Stripe (no route used needs it).
    {
      redisUrl: redis.url,
      redisPrefix: `{bench-${runId(6)}}`,
      databaseUrl,
      secret: BENCH_WEBHOOK_SECRET,
      logDir,
      log: 'pipe',
    },
    { serviceToken: TOKEN },
  );
  const sql = postgres(databaseUrl, { max: CONNECTIONS, onnotice: () => {} });
  const requestsPerRound = Math.max(20, Math.round(env.BENCH_SECONDS * 15));
  const rows: Array<Record<string, string | number>> = [];
  const endpoint: number[] = [];
  const raw: number[] = [];
  const apiCpu: number[] = [];
  // Warm-up of both paths, then alternating rounds.
  for (let r = -1; r < env.BENCH_ROUNDS; r++) {
    const id = runId(6);
    const all = records(requestsPerRound * BATCH, id);
    const batches = Array.from({ length: requestsPerRound }, (_, i) =>
      all.slice(i * BATCH, (i + 1) * BATCH),
    );

    // a1) The API: one request per batch, CONNECTIONS at a time.
    const file = writeRequests(
      `usage-${id}`,
      batches.map((batch, i) => ({ id: `${id}-${i}`, body: JSON.stringify({ records: batch }) })),
    );
    const cpuBefore = api.proc.cpuSeconds();
    const load = await runLoad({
      url: api.url,
      path: '/api/usage',
      requestsFile: file,
      connections: CONNECTIONS,
      amount: requestsPerRound,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const [stored] = await sql<
      { n: number }[]
    >`select count(*)::int as n from usage_ledger where idempotency_key like ${`${id}-%`}`;
    if (Number(stored?.n) !== all.length || load.non2xx > 0) {
      throw new Error(
        `API stored ${stored?.n} of ${all.length} records (${JSON.stringify(load.statusCodes)})`,
      );
    }
    // autocannon's amount mode ends on a whole second: use the mean latency × requests / connections.
    const apiSeconds = Math.min(
      load.seconds,
      (load.latencyMs.mean / 1000) * (requestsPerRound / CONNECTIONS),
    );
    const apiRate = all.length / apiSeconds;

    // a2) The same records, raw multi-row INSERTs through postgres.js (period precomputed).
    const id2 = runId(6);
    const rawBatches = batches.map((batch) =>
      batch.map((rec) => ({
        user_id: rec.userId.replace(id, id2),
        metric: rec.metric,
        quantity: rec.quantity,
        occurred_at: rec.occurredAt,
        period_start: `${rec.occurredAt.slice(0, 7)}-01T00:00:00Z`,
        idempotency_key: rec.idempotencyKey.replace(id, id2),
      })),
    );
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        for (;;) {
          const batch = rawBatches[next++];
          if (!batch) return;
          await sql`insert into usage_ledger ${sql(batch)}`;
        }
      }),
    );
    const rawRate = all.length / ((performance.now() - started) / 1000);
    if (r < 0) continue;
    endpoint.push(apiRate);
    raw.push(rawRate);
    apiCpu.push(((api.proc.cpuSeconds() - cpuBefore) / all.length) * 1e6);
    rows.push({
      round: r + 1,
      'API records/s': Math.round(apiRate),
      'raw INSERT records/s': Math.round(rawRate),
      'API p50 ms/batch': load.latencyMs.p50,
      'API CPU µs/record': Math.round(apiCpu.at(-1)!),
    });
  }
  console.log(table(rows));
  const figures = {
    apiRecordsPerSecond: round(median(endpoint)),
    rawRecordsPerSecond: round(median(raw)),
    ratio: round(median(endpoint) / median(raw), 2),
    batch: BATCH,
    connections: CONNECTIONS,
    apiPeakRssMb: mb(api.proc.peakRssBytes()),
  };
  console.log(
    ratioLine(
      {
        name: 'POST /api/usage / raw INSERT (records/s)',
        value: figures.apiRecordsPerSecond,
        baseline: figures.rawRecordsPerSecond,
        ratio: figures.ratio,
      },
      '/s',
    ),
  );
  await sql.end({ timeout: 5 });
  await api.proc.stop();
  await redis.destroy();
  return figures;
}

/**
 * Waits until every ledger row is below the cluster's transaction horizon
 * (`pg_snapshot_xmin`), so a roll-up run can fold all of them: a write transaction open
 * anywhere on the shared server (another agent's work) holds the horizon back meanwhile.
 */
async function waitForHorizon(sql: postgres.Sql, timeoutSeconds = 600) {
  const deadline = performance.now() + timeoutSeconds * 1000;
  for (;;) {
    const [row] = await sql<{ ready: boolean }[]>`
      select coalesce(pg_snapshot_xmin(pg_current_snapshot()) > max(txid), true) as ready from usage_ledger`;
    if (row?.ready) return;
    if (performance.now() > deadline)
      throw new Error(`the transaction horizon stayed below the ledger for ${timeoutSeconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function rollupBench(env: ReturnType<typeof benchEnv>, databaseUrl: string) {
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const rowsWanted = env.BENCH_ROLLUP_ROWS;
  const budgetSeconds = env.BENCH_ROLLUP_BUDGET_SECONDS;
  await sql`truncate usage_ledger, usage_aggregates, usage_rollups`;
  const t = performance.now();
  // 20,000 users × 2 metrics × a few periods: a realistic spread for one night's roll-up,
  // written as ingestion writes it: transactions of 1,000 rows (one API batch each), so the
  // ledger holds thousands of txids and the roll-up's txid-range chunks are exercised as in
  // production. A DO block may COMMIT in its loop when it is not inside a transaction block.
  await sql.unsafe(`
    do $$
    declare
      total constant bigint := ${rowsWanted};
      per_tx constant bigint := 1000;
      done bigint := 0;
    begin
      while done < total loop
        insert into usage_ledger (user_id, metric, quantity, occurred_at, period_start, idempotency_key)
        select 'user_' || (g % 20000),
               case when g % 5 = 0 then 'api_calls' else 'compute_minutes' end,
               1 + g % 13,
               timestamptz '2026-09-01' + (g % 86400) * interval '1 minute',
               date_trunc('month', timestamptz '2026-09-01' + (g % 86400) * interval '1 minute'),
               'k' || g
        from generate_series(done + 1, least(done + per_tx, total)) as g;
        done := done + per_tx;
        commit;
      end loop;
    end $$`);
  await sql`vacuum analyze usage_ledger`;
  const [shape] = await sql<{ txids: number; groups: number }[]>`
    select count(distinct txid)::int as txids,
           (select count(*) from (select distinct user_id, metric, period_start from usage_ledger) g)::int as groups
    from usage_ledger`;
  console.log(
    `generated ${rowsWanted} ledger rows in ${shape?.txids} transactions, ${shape?.groups} (user, metric, period) groups, in ${round((performance.now() - t) / 1000)} s`,
  );

  const reset = () => sql`truncate usage_aggregates, usage_rollups`;
  const plain = `insert into usage_aggregates (user_id, metric, period_start, quantity, record_count, through_txid, last_rollup_id)
    select user_id, metric, period_start, sum(quantity), count(*), pg_snapshot_xmin(pg_current_snapshot()), 0 from usage_ledger
    group by user_id, metric, period_start
    on conflict (user_id, metric, period_start) do update set quantity = usage_aggregates.quantity + excluded.quantity, record_count = usage_aggregates.record_count + excluded.record_count`;
  const [expected] = await sql<{ q: string }[]>`select sum(quantity)::text as q from usage_ledger`;

  /** 1. The plain statement (psql), as a DBA would run it once. */
  const runPlain = async () => {
    await reset();
    const started = performance.now();
    const psql = spawnSync('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-q', '-c', plain], {
      encoding: 'utf8',
    });
    if (psql.status !== 0) throw new Error(`psql failed: ${psql.stderr}`);
    return (performance.now() - started) / 1000;
  };

  /**
   * 2. rollup() itself, within a time budget: past it the run is aborted between chunks and
   *    its total extrapolated from the rows it folded.
   */
  const runRollup = async (chunkSize?: number) => {
    await reset();
    await waitForHorizon(sql);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), budgetSeconds * 1000);
    const started = performance.now();
    const run = await rollup(sql, { chunkSize, signal: abort.signal });
    clearTimeout(timer);
    const elapsed = (performance.now() - started) / 1000;
    const completed = run.status === 'completed';
    if (completed) {
      const [got] = await sql<
        { q: string }[]
      >`select sum(quantity)::text as q from usage_aggregates`;
      if (got?.q !== expected?.q || run.rowsClaimed !== rowsWanted)
        throw new Error(
          `roll-up folded ${run.rowsClaimed} rows, total ${got?.q}; the ledger has ${rowsWanted} rows, total ${expected?.q}`,
        );
    }
    return {
      seconds: completed ? elapsed : (elapsed * rowsWanted) / Math.max(1, run.rowsClaimed),
      measured: completed
        ? 'whole run'
        : `${run.rowsClaimed} rows in ${round(elapsed)} s, extrapolated`,
      chunks: run.chunks,
    };
  };

  // Alternating rounds of the baseline and rollup() with its default chunk size.
  const plainRuns: number[] = [];
  const rollupRuns: Awaited<ReturnType<typeof runRollup>>[] = [];
  for (let r = 0; r < env.BENCH_ROUNDS; r++) {
    plainRuns.push(await runPlain());
    rollupRuns.push(await runRollup());
  }
  const plainSeconds = median(plainRuns);
  const rollupSeconds = median(rollupRuns.map((run) => run.seconds));
  // Smaller chunks: each one upserts every group it touches again, and reads its rows through
  // the txid index into a hash aggregate (one chunk over all rows can use a group-ordered scan).
  const curve = [];
  for (const chunkSize of [2_500_000, 1_000_000, 250_000].filter((n) => n < rowsWanted)) {
    curve.push({ chunkSize, ...(await runRollup(chunkSize)) });
  }
  await reset();

  console.log(
    table([
      ...plainRuns.map((seconds, i) => ({
        what: `INSERT…SELECT…GROUP BY (psql), round ${i + 1}`,
        chunks: '',
        seconds: round(seconds, 2),
        measured: 'whole run',
      })),
      ...rollupRuns.map((run, i) => ({
        what: `rollup(), default chunk size ${DEFAULT_ROLLUP_CHUNK_SIZE}, round ${i + 1}`,
        chunks: run.chunks,
        seconds: round(run.seconds, 2),
        measured: run.measured,
      })),
      ...curve.map((run) => ({
        what: `rollup(), chunkSize ${run.chunkSize}`,
        chunks: run.chunks,
        seconds: round(run.seconds, 2),
        measured: run.measured,
      })),
    ]),
  );
  const figures = {
    rows: rowsWanted,
    transactions: shape?.txids,
    groups: shape?.groups,
    plainSeconds: round(plainSeconds, 2),
    rollupSeconds: round(rollupSeconds, 2),
    rollupChunkSize: DEFAULT_ROLLUP_CHUNK_SIZE,
    rollupMeasured: rollupRuns.map((run) => run.measured),
    ratio: round(plainSeconds / rollupSeconds, 3),
    byChunkSize: curve.map((run) => ({
      chunkSize: run.chunkSize,
      chunks: run.chunks,
      seconds: round(run.seconds, 2),
      ratio: round(plainSeconds / run.seconds, 3),
    })),
  };
  console.log(
    ratioLine(
      {
        name: 'roll-up vs one INSERT…SELECT…GROUP BY (time ratio)',
        value: plainSeconds,
        baseline: rollupSeconds,
        ratio: figures.ratio,
        target: 0.8,
      },
      ' s',
    ),
  );
  await sql.end({ timeout: 5 });
  return figures;
}

async function main(): Promise<void> {
  const env = benchEnv();
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-usage-'));
  const databaseUrl = await freshDatabase(env.DATABASE_URL, env.BENCH_DATABASE);
  const only = process.argv.includes('--ingest')
    ? 'ingest'
    : process.argv.includes('--rollup')
      ? 'rollup'
      : 'both';
  console.log(`usage benchmark: ${os.cpus().length} cores, database ${env.BENCH_DATABASE}`);
  const out: Record<string, unknown> = {};
  if (only !== 'rollup') out.ingestion = await ingestion(env, databaseUrl, logDir);
  if (only !== 'ingest') out.rollup = await rollupBench(env, databaseUrl);
  saveResult(only === 'both' ? 'usage' : `usage-${only}`, out);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
