/**
 * Benchmark 3: cached reads of the billing API (`apps/api` as its own process).
 *  - warm: GET /api/billing/usage and /subscription for users whose entries are cached,
 *    against a bare Express app answering {ok:true} on the same routes. Target ≥ 0.7.
 *  - cold: every read misses the cache (L1 off, Redis cache flushed, each user once), against
 *    a bare Express app running the same statements straight through postgres.js.
 *  - hit ratio of the warm runs, from the API's own billing_cache_lookups_total counters.
 *
 *   pnpm --filter @billing/bench reads
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDb } from '@billing/db';
import { processStripeEvent } from '@billing/worker-webhooks/engine';
import { Redis } from 'ioredis';
import pino from 'pino';
import {
  BENCH_SERVICE_TOKEN,
  BENCH_SRC,
  BENCH_WEBHOOK_SECRET,
  baseChildEnv,
  benchEnv,
  buildEvents,
  cpuSeconds,
  freePort,
  freshDatabase,
  type LoadResult,
  mb,
  median,
  RedisServer,
  type RunningApp,
  ratioLine,
  round,
  runId,
  runLoad,
  spawnNode,
  startApiApp,
  table,
  waitFor,
  writeRequests,
} from './lib/index.js';
import { saveResult } from './results.js';

const TOKEN = BENCH_SERVICE_TOKEN;
const USERS = 1_000;
const ROUTES = {
  usage: (user: string) => `/api/billing/usage?userId=${user}&metric=compute_minutes`,
  subscription: (user: string) => `/api/billing/subscription?userId=${user}`,
} as const;
type Route = keyof typeof ROUTES;

async function seed(databaseUrl: string, redisUrl: string, id: string): Promise<string[]> {
  // One subscription per user on the pro plan, applied by the worker's own code, and 50 usage
  // records each in the current period (half of them rolled up, half in the live tail).
  const db = createDb({ url: databaseUrl, max: 4 });
  const redis = new Redis(redisUrl);
  const events = buildEvents(USERS, { runId: id, customers: USERS, kinds: ['subscription'] });
  const logger = pino({ level: 'silent' });
  for (const event of events) {
    await processStripeEvent(
      { db: db.db, redis, redisPrefix: '{bench-seed}', logger },
      {
        eventId: event.id,
        type: event.type,
        raw: event.body,
        receivedAt: Date.now(),
        secretIndex: 0,
      },
    );
  }
  // Half the rows (g even) are written, then rolled up (aggregate through_txid above their
  // txid); the other half is written afterwards, so it is the live tail.
  const seedLedger = (parity: 0 | 1) =>
    db.sql.unsafe(`
      insert into usage_ledger (user_id, metric, quantity, occurred_at, period_start, idempotency_key)
      select s.user_id, 'compute_minutes', 1 + g % 5, now() - interval '1 hour', s.current_period_start,
             'seed-' || g || '-' || s.user_id
      from subscriptions s, generate_series(1, 50) g where g % 2 = ${parity}`);
  await seedLedger(0);
  await db.sql.unsafe(`
    insert into usage_aggregates (user_id, metric, period_start, quantity, record_count, through_txid, last_rollup_id)
    select user_id, metric, period_start, sum(quantity), count(*),
           (select (max(txid)::text::numeric + 1)::text::xid8 from usage_ledger), 1
    from usage_ledger group by 1, 2, 3`);
  await seedLedger(1);
  await db.sql`analyze`;
  const users = events.map((e) => e.userId);
  await db.close();
  redis.disconnect();
  return users;
}

async function cacheCounters(api: RunningApp): Promise<Record<string, number>> {
  const text = await (await fetch(`${api.metricsUrl ?? api.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const match of text.matchAll(/^billing_cache_lookups_total\{([^}]*)\} (\d+(?:\.\d+)?)/gm)) {
    const labels = Object.fromEntries(
      [...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    const key = `${labels.tier}:${labels.result}`;
    out[key] = (out[key] ?? 0) + Number(match[2]);
  }
  return out;
}

async function main(): Promise<void> {
  const env = benchEnv();
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-reads-'));
  const databaseUrl = await freshDatabase(env.DATABASE_URL, env.BENCH_DATABASE);
  const redis = await new RedisServer({ appendonly: true }).start();
  const admin = new Redis(redis.url);
  const id = runId(6);
  console.log(
    `reads benchmark: ${os.cpus().length} cores, ${USERS} users, ${env.BENCH_ROUNDS} rounds × ${env.BENCH_SECONDS} s, ${env.BENCH_CONNECTIONS} connections`,
  );
  const users = await seed(databaseUrl, redis.url, id);

  const target = {
    redisUrl: redis.url,
    redisPrefix: `{bench-${id}}`,
    databaseUrl,
    secret: BENCH_WEBHOOK_SECRET,
    logDir,
    log: 'pipe' as const,
  };
  // The service token's rate limit is raised so the bench measures reads, not 429s; the
  // limiter's Redis round trip still runs on every request.
  const apiEnv = { API_RATE_LIMIT_SERVICE: '1000000000' };
  // `--cpu-prof`: the warm API writes a V8 CPU profile into the log folder when it stops.
  const nodeArgs = process.argv.includes('--cpu-prof')
    ? ['--cpu-prof', `--cpu-prof-dir=${logDir}`]
    : undefined;
  const api = await startApiApp(target, { serviceToken: TOKEN, env: apiEnv, nodeArgs });
  const coldApi = await startApiApp(target, {
    name: 'api-l1-off',
    serviceToken: TOKEN,
    env: { ...apiEnv, CACHE_L1_MAX: '0' },
  });

  const barePort = await freePort();
  const bare = spawnNode('bare-express', path.join(BENCH_SRC, 'baseline/bare-express.ts'), {
    cwd: path.dirname(BENCH_SRC),
    env: baseChildEnv(),
    logFile: path.join(logDir, 'bare.log'),
    args: [String(barePort), 'GET /api/billing/usage', 'GET /api/billing/subscription'],
    log: 'pipe',
  });
  const queryPort = await freePort();
  const bareQuery = spawnNode('bare-query', path.join(BENCH_SRC, 'baseline/bare-query.ts'), {
    cwd: path.dirname(BENCH_SRC),
    env: baseChildEnv(),
    logFile: path.join(logDir, 'bare-query.log'),
    args: [String(queryPort), databaseUrl],
    log: 'pipe',
  });
  await waitFor(
    'baselines ready',
    () => bare.tail().includes('listening') && bareQuery.tail().includes('ready'),
    60_000,
  );

  const files = {
    usage: writeRequests(
      'reads-usage',
      users.map((u) => ({ id: u, body: ROUTES.usage(u) })),
    ),
    subscription: writeRequests(
      'reads-subscription',
      users.map((u) => ({ id: u, body: ROUTES.subscription(u) })),
    ),
  };
  const get = (
    url: string,
    route: Route,
    options: { seconds?: number; amount?: number; connections?: number },
  ) =>
    runLoad({
      url,
      path: '/',
      method: 'GET',
      requestsFile: files[route],
      connections: options.connections ?? env.BENCH_CONNECTIONS,
      durationSeconds: options.seconds,
      amount: options.amount,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
  const check = <T extends LoadResult>(what: string, x: T): T => {
    if (x.non2xx > 0 || x.errors > 0)
      throw new Error(`${what}: ${JSON.stringify(x.statusCodes)} errors ${x.errors}`);
    return x;
  };

  // Warm: every user read once (fills L1 and L2), a warm-up run, then alternating rounds.
  const rows: Array<Record<string, string | number>> = [];
  const warm: Record<
    Route,
    {
      api: number[];
      bare: number[];
      apiP99: number[];
      bareP99: number[];
      apiP50: number[];
      apiCpu: number[];
      bareCpu: number[];
    }
  > = {
    usage: { api: [], bare: [], apiP99: [], bareP99: [], apiP50: [], apiCpu: [], bareCpu: [] },
    subscription: {
      api: [],
      bare: [],
      apiP99: [],
      bareP99: [],
      apiP50: [],
      apiCpu: [],
      bareCpu: [],
    },
  };
  for (const route of ['usage', 'subscription'] as const) {
    check('fill', await get(api.url, route, { amount: USERS, connections: 8 }));
    await get(`http://127.0.0.1:${barePort}`, route, { seconds: 2 });
    await get(api.url, route, { seconds: 2 });
  }
  // Server CPU per request (user + system from /proc), which moves much less than req/s when
  // neighbours load the machine: the API process plus its Redis, against the bare app.
  const timed = async (
    url: string,
    route: Route,
    cpu: () => number,
  ): Promise<LoadResult & { cpuUs: number }> => {
    const start = cpu();
    const result = await get(url, route, { seconds: env.BENCH_SECONDS });
    return { ...result, cpuUs: ((cpu() - start) / Math.max(1, result.requests)) * 1e6 };
  };
  const apiCpu = () => api.proc.cpuSeconds() + cpuSeconds(redis.pid);
  const before = await cacheCounters(api);
  for (let r = 0; r < env.BENCH_ROUNDS; r++) {
    for (const route of ['usage', 'subscription'] as const) {
      const b = check('bare', await timed(`http://127.0.0.1:${barePort}`, route, bare.cpuSeconds));
      const a = check(`api ${route}`, await timed(api.url, route, apiCpu));
      warm[route].apiCpu.push(a.cpuUs);
      warm[route].bareCpu.push(b.cpuUs);
      warm[route].api.push(a.okPerSecond);
      warm[route].bare.push(b.okPerSecond);
      warm[route].apiP50.push(a.latencyMs.p50);
      warm[route].apiP99.push(a.latencyMs.p99);
      warm[route].bareP99.push(b.latencyMs.p99);
      rows.push({
        round: r + 1,
        route,
        'api req/s': Math.round(a.okPerSecond),
        'bare req/s': Math.round(b.okPerSecond),
        'api p50 ms': a.latencyMs.p50,
        'api p99 ms': a.latencyMs.p99,
        'bare p99 ms': b.latencyMs.p99,
        'api+redis CPU µs/req': Math.round(a.cpuUs),
        'bare CPU µs/req': Math.round(b.cpuUs),
      });
    }
  }
  const after = await cacheCounters(api);
  const delta = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
  const l1Lookups = delta('l1:hit') + delta('l1:miss');
  const hitRatio = l1Lookups > 0 ? delta('l1:hit') / l1Lookups : Number.NaN;
  const l2Lookups = delta('l2:hit') + delta('l2:miss');
  console.log('warm reads');
  console.log(table(rows));

  // Cold: each user once per round, right after the Redis cache is emptied, L1 off.
  const coldRows: Array<Record<string, string | number>> = [];
  const cold: Record<Route, { api: number[]; query: number[] }> = {
    usage: { api: [], query: [] },
    subscription: { api: [], query: [] },
  };
  for (let r = -1; r < env.BENCH_ROUNDS; r++) {
    for (const route of ['usage', 'subscription'] as const) {
      const q = check(
        'bare query',
        await get(`http://127.0.0.1:${queryPort}`, route, { amount: USERS, connections: 8 }),
      );
      await admin.flushall();
      const c1 = await cacheCounters(coldApi);
      const a = check(
        `cold ${route}`,
        await get(coldApi.url, route, { amount: USERS, connections: 8 }),
      );
      const c2 = await cacheCounters(coldApi);
      const hits = (c2['l2:hit'] ?? 0) - (c1['l2:hit'] ?? 0);
      // amount mode ends on autocannon's 1 s tick: time from the mean latency instead.
      const rate = (x: LoadResult) => USERS / ((x.latencyMs.mean / 1000) * (USERS / 8));
      if (r < 0) continue;
      cold[route].api.push(rate(a));
      cold[route].query.push(rate(q));
      coldRows.push({
        round: r + 1,
        route,
        'api (cache cold) req/s': Math.round(rate(a)),
        'postgres.js req/s': Math.round(rate(q)),
        'api p50 ms': a.latencyMs.p50,
        'postgres.js p50 ms': q.latencyMs.p50,
        'L2 hits (shared entries: plan list)': hits,
      });
    }
  }
  console.log('cold reads (8 connections)');
  console.log(table(coldRows));

  const figures: Record<string, unknown> = { users: USERS, connections: env.BENCH_CONNECTIONS };
  for (const route of ['usage', 'subscription'] as const) {
    const w = warm[route];
    const c = cold[route];
    const warmRatio = median(w.api) / median(w.bare);
    const coldRatio = median(c.api) / median(c.query);
    figures[route] = {
      warm: {
        apiPerSecond: round(median(w.api)),
        barePerSecond: round(median(w.bare)),
        apiP50Ms: median(w.apiP50),
        apiP99Ms: median(w.apiP99),
        bareP99Ms: median(w.bareP99),
        ratio: round(warmRatio, 2),
        apiAndRedisCpuUsPerRequest: Math.round(median(w.apiCpu)),
        bareCpuUsPerRequest: Math.round(median(w.bareCpu)),
      },
      cold: {
        apiPerSecond: round(median(c.api)),
        postgresJsPerSecond: round(median(c.query)),
        ratio: round(coldRatio, 2),
      },
    };
    console.log(
      ratioLine(
        {
          name: `warm ${route} / bare express`,
          value: median(w.api),
          baseline: median(w.bare),
          ratio: warmRatio,
          target: 0.7,
        },
        '/s',
      ),
    );
    console.log(
      `  server CPU per warm ${route} read: api + redis ${Math.round(median(w.apiCpu))} µs, bare express ${Math.round(median(w.bareCpu))} µs`,
    );
    console.log(
      ratioLine(
        {
          name: `cold ${route} / same statements via postgres.js`,
          value: median(c.api),
          baseline: median(c.query),
          ratio: coldRatio,
        },
        '/s',
      ),
    );
  }
  figures.hitRatio = { l1: round(hitRatio, 4), l1Lookups, l2Lookups };
  figures.apiPeakRssMb = mb(api.proc.peakRssBytes());
  console.log(
    `hit ratio (warm rounds): L1 ${(hitRatio * 100).toFixed(2)} % of ${l1Lookups} lookups; L2 consulted ${l2Lookups} times`,
  );
  console.log(`API peak RSS ${figures.apiPeakRssMb} MB`);
  saveResult('reads', figures);

  admin.disconnect();
  await Promise.all([api.proc.stop(), coldApi.proc.stop(), bare.stop(), bareQuery.stop()]);
  await redis.destroy();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
