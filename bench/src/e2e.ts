/**
 * Benchmark 2: end to end. Events per second from POST (through the real ingress) to applied
 * in Postgres (`webhook_events` processed, by the real worker with the full handler), against
 * the same deliveries drained by a no-op BullMQ worker; and the lag distribution (accepted by
 * the ingress → applied). Rounds alternate no-op / full after a warm-up; medians reported.
 *
 *   pnpm --filter @billing/bench e2e
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import {
  BENCH_WEBHOOK_SECRET,
  benchEnv,
  buildEvents,
  freshDatabase,
  mb,
  median,
  quantile,
  RedisServer,
  ratioLine,
  round,
  runId,
  runLoad,
  signEvents,
  startBenchWorker,
  startIngressApp,
  table,
  truncateSyncTables,
  type WorkerVariant,
  waitFor,
  workerBackendCpu,
  writeRequests,
} from './lib/index.js';
import { saveResult } from './results.js';

const SECRET = BENCH_WEBHOOK_SECRET;

async function main(): Promise<void> {
  const env = benchEnv();
  // Group commit wants many active jobs; the no-op baseline gets the same concurrency.
  const CONCURRENCY = env.BENCH_WORKER_CONCURRENCY;
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-e2e-'));
  const prefix = `{bench-${runId(6)}}`;
  const databaseUrl = await freshDatabase(env.DATABASE_URL, env.BENCH_DATABASE);
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const redis = await new RedisServer({ appendonly: true, appendfsync: 'everysec' }).start();
  const admin = new Redis(redis.url);
  const target = {
    redisUrl: redis.url,
    redisPrefix: prefix,
    databaseUrl,
    secret: SECRET,
    logDir,
    log: 'pipe' as const,
  };
  console.log(
    `end-to-end benchmark: ${os.cpus().length} cores, ${env.BENCH_ROUNDS} rounds, worker concurrency ${CONCURRENCY}, redis AOF everysec, database ${env.BENCH_DATABASE}`,
  );

  const ingress = await startIngressApp(target);
  const id = runId(6);

  const jobKey = (eventId: string) => `${prefix}:stripe-events:${eventId}`;
  /** When the ingress accepted each job (BullMQ's job timestamp), by event id. */
  const acceptedAt = async (ids: string[]) => {
    const out = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 1000) {
      const slice = ids.slice(i, i + 1000);
      const pipeline = admin.pipeline();
      for (const eventId of slice) pipeline.hget(jobKey(eventId), 'timestamp');
      const replies = (await pipeline.exec()) ?? [];
      slice.forEach((eventId, j) => {
        out.set(eventId, Number(replies[j]?.[1]));
      });
    }
    return out;
  };

  /** One round: the worker idles, N deliveries go through the ingress, wait until all are done. */
  const round1 = async (variant: WorkerVariant, count: number, label: string, rate?: number) => {
    await admin.flushall();
    await truncateSyncTables(sql);
    const proc = await startBenchWorker(variant, target, CONCURRENCY);
    const events = signEvents(buildEvents(count, { runId: `${id}${label}` }), SECRET);
    const file = writeRequests(label, events);
    const done =
      variant === 'full'
        ? async () =>
            Number(
              (
                await sql`select count(*)::int as n from webhook_events where status in ('processed', 'ignored')`
              )[0]!.n,
            ) >= count
        : async () => Number(await admin.zcard(`${prefix}:stripe-events:completed`)) >= count;
    // Poll while the load runs: the no-op worker may be done before the load generator exits.
    const [load, finishedAt] = await Promise.all([
      runLoad({
        url: ingress.url,
        path: '/webhooks/stripe',
        requestsFile: file,
        connections: 16,
        amount: count,
        rate,
      }),
      waitFor(`${label}: ${count} events applied`, done, 30 * 60_000, 20).then(() => Date.now()),
    ]);
    if (load.ok !== count)
      throw new Error(`${label}: only ${load.ok} of ${count} deliveries accepted`);
    const accepted = await acceptedAt(events.map((e) => e.id));
    const firstAccepted = Math.min(...accepted.values());
    const lags: number[] = [];
    if (variant === 'full') {
      const rows = await sql<{ event_id: string; at: number }[]>`
        select event_id, extract(epoch from processed_at) * 1000 as at from webhook_events`;
      for (const row of rows)
        lags.push(Number(row.at) - (accepted.get(row.event_id) ?? Number.NaN));
    }
    const failed = Number(await admin.zcard(`${prefix}:stripe-events:failed`));
    const peak = proc.peakRssBytes();
    // CPU per event: the worker process, and its Postgres backends (alive for the round).
    const pgCpu = [...(await workerBackendCpu(sql)).values()].reduce((sum, cpu) => sum + cpu, 0);
    const workerCpu = proc.cpuSeconds();
    await proc.stop();
    return {
      variant,
      count,
      seconds: (finishedAt - firstAccepted) / 1000,
      perSecond: count / ((finishedAt - firstAccepted) / 1000),
      lags,
      failed,
      peakRssMb: mb(peak),
      ingressPerSecond: load.okPerSecond,
      workerCpuUs: (workerCpu / count) * 1e6,
      pgCpuUs: (pgCpu / count) * 1e6,
    };
  };

  // Warm-up of both, and a rate estimate for the full worker to size the rounds.
  await round1('noop', 2_000, 'wn');
  const warm = await round1('full', 1_500, 'wf');
  const count = Math.max(2_000, Math.round(warm.perSecond * env.BENCH_SECONDS * 2));
  console.log(
    `warm-up: full pipeline ~${Math.round(warm.perSecond)}/s → ${count} events per round`,
  );

  const rounds: Array<Awaited<ReturnType<typeof round1>>> = [];
  for (let r = 0; r < env.BENCH_ROUNDS; r++) {
    rounds.push(await round1('noop', count, `n${r}`));
    rounds.push(await round1('full', count, `f${r}`));
  }
  console.log(
    table(
      rounds.map((x, i) => ({
        round: Math.floor(i / 2) + 1,
        worker: x.variant === 'full' ? 'full handler' : 'no-op',
        events: x.count,
        seconds: round(x.seconds, 2),
        'events/s': Math.round(x.perSecond),
        'lag p50 ms': x.lags.length ? Math.round(quantile(x.lags, 0.5)) : '',
        'lag p99 ms': x.lags.length ? Math.round(quantile(x.lags, 0.99)) : '',
        'lag max ms': x.lags.length ? Math.round(quantile(x.lags, 1)) : '',
        failed: x.failed,
        'worker CPU µs/event': Math.round(x.workerCpuUs),
        'pg backends CPU µs/event': x.variant === 'full' ? Math.round(x.pgCpuUs) : '',
        'worker peak RSS MB': x.peakRssMb,
      })),
    ),
  );
  // Lag without a backlog: the same pipeline fed at half its measured rate.
  const fullRateSoFar = median(rounds.filter((x) => x.variant === 'full').map((x) => x.perSecond));
  const steadyRate = Math.max(10, Math.floor(fullRateSoFar / 2));
  const steady = await round1('full', steadyRate * env.BENCH_SECONDS, 'steady', steadyRate);
  console.log(
    `steady state at ${steadyRate}/s (half the full rate) for ${env.BENCH_SECONDS} s: lag p50 ${Math.round(quantile(steady.lags, 0.5))} ms, p90 ${Math.round(quantile(steady.lags, 0.9))} ms, p99 ${Math.round(quantile(steady.lags, 0.99))} ms, max ${Math.round(quantile(steady.lags, 1))} ms`,
  );
  const full = rounds.filter((x) => x.variant === 'full');
  const noop = rounds.filter((x) => x.variant === 'noop');
  const fullRate = median(full.map((x) => x.perSecond));
  const noopRate = median(noop.map((x) => x.perSecond));
  const allLags = full.flatMap((x) => x.lags);
  const figures = {
    full: {
      perSecond: round(fullRate),
      lagMs: {
        p50: Math.round(median(full.map((x) => quantile(x.lags, 0.5)))),
        p90: Math.round(median(full.map((x) => quantile(x.lags, 0.9)))),
        p99: Math.round(median(full.map((x) => quantile(x.lags, 0.99)))),
        max: Math.round(quantile(allLags, 1)),
      },
      workerPeakRssMb: Math.max(...full.map((x) => x.peakRssMb)),
    },
    noop: {
      perSecond: round(noopRate),
      workerPeakRssMb: Math.max(...noop.map((x) => x.peakRssMb)),
    },
    ingressPeakRssMb: mb(ingress.proc.peakRssBytes()),
    eventsPerRound: count,
    concurrency: CONCURRENCY,
  };
  const ratio = fullRate / noopRate;
  console.log(
    `full pipeline: ${figures.full.perSecond} events/s POST → applied; lag p50 ${figures.full.lagMs.p50} ms, p90 ${figures.full.lagMs.p90} ms, p99 ${figures.full.lagMs.p99} ms (burst: the lag is mostly the backlog draining)`,
  );
  console.log(`no-op worker: ${figures.noop.perSecond} jobs/s POST → completed`);
  console.log(
    ratioLine(
      {
        name: 'full/no-op end-to-end throughput',
        value: fullRate,
        baseline: noopRate,
        ratio,
        target: 0.5,
      },
      '/s',
    ),
  );
  saveResult('e2e', { ...figures, ratio: round(ratio, 2) });

  admin.disconnect();
  await sql.end({ timeout: 5 });
  await ingress.proc.stop();
  await redis.destroy();
  if (process.argv.includes('--cpu-prof')) console.log(`cpu profiles in ${logDir}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
