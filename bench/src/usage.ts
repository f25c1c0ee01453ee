/**
 * Benchmark 4: usage.
 *  a) Ingestion: records/s stored through `POST /api/usage` (batches of 1,000, the real API
 *     process, autocannon) against a raw multi-row INSERT of the same records through
 *     postgres.js at the same concurrency.
 *  b) Nightly roll-up of BENCH_ROLLUP_ROWS ledger rows (5,000,000 by default, generated with
 *     generate_series) by `rollup()` from @billing/usage, against one
 *     `INSERT … SELECT … GROUP BY` statement run by psql over the same rows. Target ≥ 0.8
 *     (ratio = plain statement time / roll-up time).
 *
 *   pnpm --filter @billing/bench usage            (both)
 *   pnpm --filter @billing/bench usage --ingest   (a only)   --rollup (b only)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rollup } from '@billing/usage';
import postgres from 'postgres';
import {
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

const TOKEN = 'bench-service-token-0123456789';
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
      secret: 'whsec_unused',
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

/** The chunk statement of `rollup()` with its claim written as a primary-key lookup. */
const FIXED_CHUNK = (rollupId: number, chunk: number) => `
  with picked as (
    select id from usage_ledger where rollup_id is null limit ${chunk} for update skip locked
  ), claimed as (
    update usage_ledger l set rollup_id = ${rollupId} where l.id = any(array(select id from picked))
    returning l.user_id, l.metric, l.period_start, l.quantity
  ), folded as (
    insert into usage_aggregates (user_id, metric, period_start, quantity, record_count, last_rollup_id)
    select user_id, metric, period_start, sum(quantity), count(*), ${rollupId} from claimed
    group by user_id, metric, period_start order by user_id, metric, period_start
    on conflict (user_id, metric, period_start) do update
      set quantity = usage_aggregates.quantity + excluded.quantity,
          record_count = usage_aggregates.record_count + excluded.record_count
    returning 1
  )
  select (select count(*) from claimed)::int as claimed, (select count(*) from folded)::int as groups`;

async function rollupBench(env: ReturnType<typeof benchEnv>, databaseUrl: string) {
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const rowsWanted = env.BENCH_ROLLUP_ROWS;
  const budgetSeconds = env.BENCH_ROLLUP_BUDGET_SECONDS;
  await sql`truncate usage_ledger, usage_aggregates, usage_rollups`;
  let t = performance.now();
  // 20,000 users × 2 metrics × a few periods: a realistic spread for one night's roll-up.
  await sql.unsafe(`
    insert into usage_ledger (user_id, metric, quantity, occurred_at, period_start, idempotency_key)
    select 'user_' || (g % 20000),
           case when g % 5 = 0 then 'api_calls' else 'compute_minutes' end,
           1 + g % 13,
           timestamptz '2026-09-01' + (g % 86400) * interval '1 minute',
           date_trunc('month', timestamptz '2026-09-01' + (g % 86400) * interval '1 minute'),
           'k' || g
    from generate_series(1, ${rowsWanted}) as g`);
  await sql`vacuum analyze usage_ledger`;
  console.log(`generated ${rowsWanted} ledger rows in ${round((performance.now() - t) / 1000)} s`);

  const reset = async () => {
    await sql`update usage_ledger set rollup_id = null where rollup_id is not null`;
    await sql`truncate usage_aggregates, usage_rollups`;
    await sql`vacuum analyze usage_ledger`;
  };
  const plain = `insert into usage_aggregates (user_id, metric, period_start, quantity, record_count, last_rollup_id)
    select user_id, metric, period_start, sum(quantity), count(*), 0 from usage_ledger where rollup_id is null
    group by user_id, metric, period_start
    on conflict (user_id, metric, period_start) do update set quantity = usage_aggregates.quantity + excluded.quantity, record_count = usage_aggregates.record_count + excluded.record_count`;
  const [expected] = await sql<{ q: string }[]>`select sum(quantity)::text as q from usage_ledger`;

  // 1. The plain statement (psql), as a DBA would run it once.
  await sql`truncate usage_aggregates`;
  t = performance.now();
  const psql = spawnSync('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-q', '-c', plain], {
    encoding: 'utf8',
  });
  if (psql.status !== 0) throw new Error(`psql failed: ${psql.stderr}`);
  const plainSeconds = (performance.now() - t) / 1000;
  await reset();

  // 2. rollup() itself, within a time budget: past it the run is aborted between chunks and
  //    its total extrapolated from the rows it folded.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), budgetSeconds * 1000);
  t = performance.now();
  const run = await rollup(sql, { signal: abort.signal });
  clearTimeout(timer);
  const elapsed = (performance.now() - t) / 1000;
  const completed = run.status === 'completed';
  if (completed) {
    const [got] = await sql<{ q: string }[]>`select sum(quantity)::text as q from usage_aggregates`;
    if (got?.q !== expected?.q)
      throw new Error(`roll-up total ${got?.q} ≠ ledger total ${expected?.q}`);
  }
  const rollupSeconds = completed ? elapsed : (elapsed * rowsWanted) / Math.max(1, run.rowsClaimed);
  await reset();

  // 3. The same chunks with the claim as a primary-key lookup (see bench/README.md), same budget.
  let fixedRows = 0;
  t = performance.now();
  for (;;) {
    const [row] = await sql.unsafe<{ claimed: number }[]>(FIXED_CHUNK(0, 5_000));
    const claimed = Number(row?.claimed ?? 0);
    fixedRows += claimed;
    if (claimed === 0 || (performance.now() - t) / 1000 > budgetSeconds) break;
  }
  const fixedElapsed = (performance.now() - t) / 1000;
  const fixedSeconds =
    fixedRows >= rowsWanted ? fixedElapsed : (fixedElapsed * rowsWanted) / Math.max(1, fixedRows);
  await reset();

  console.log(
    table([
      {
        what: 'INSERT…SELECT…GROUP BY (psql)',
        seconds: round(plainSeconds, 2),
        measured: 'whole run',
      },
      {
        what: 'rollup() (@billing/usage)',
        seconds: round(rollupSeconds, 1),
        measured: completed
          ? 'whole run'
          : `${run.rowsClaimed} rows in ${round(elapsed)} s, extrapolated`,
      },
      {
        what: 'same chunks, claim by primary key',
        seconds: round(fixedSeconds, 1),
        measured:
          fixedRows >= rowsWanted
            ? 'whole run'
            : `${fixedRows} rows in ${round(fixedElapsed)} s, extrapolated`,
      },
    ]),
  );
  const figures = {
    rows: rowsWanted,
    plainSeconds: round(plainSeconds, 2),
    rollupSeconds: round(rollupSeconds, 1),
    rollupMeasured: completed
      ? 'whole run'
      : `extrapolated from ${run.rowsClaimed} rows in ${round(elapsed)} s`,
    fixedClaimSeconds: round(fixedSeconds, 1),
    ratio: round(plainSeconds / rollupSeconds, 3),
    ratioWithFixedClaim: round(plainSeconds / fixedSeconds, 3),
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
  console.log(
    ratioLine(
      {
        name: 'with the claim by primary key',
        value: plainSeconds,
        baseline: fixedSeconds,
        ratio: figures.ratioWithFixedClaim,
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
