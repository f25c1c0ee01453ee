/**
 * Drain benchmark: a backlog of realistic events (benchmark 2's mix plus renewal bursts:
 * invoice.created / finalized / paid and customer.subscription.updated of one customer in
 * the same second) already in the queue; the worker is started with the queue paused, the
 * queue is resumed and the clock runs until no job is left waiting or active. Baseline in the
 * same run: a no-op BullMQ worker draining the same backlog. Rounds alternate no-op / full;
 * medians reported, with worker CPU and Postgres CPU per event.
 *
 *   pnpm --filter @billing/bench drain                      # 100,000 events
 *   BENCH_DRAIN_EVENTS=20000 pnpm --filter @billing/bench drain
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createQueue, jobCatalog, QUEUES } from '@billing/queue';
import { invoiceObject, priceObject, stripeEvent, subscriptionObject } from '@billing/stripe-fake';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import {
  BENCH_WEBHOOK_SECRET,
  type BuiltEvent,
  benchEnv,
  buildEvents,
  freshDatabase,
  mb,
  median,
  RedisServer,
  ratioLine,
  round,
  runId,
  startBenchWorker,
  table,
  truncateSyncTables,
  type WorkerVariant,
  waitFor,
  workerBackendCpu,
} from './lib/index.js';
import { saveResult } from './results.js';

const PRO_MONTHLY = priceObject({
  id: 'price_bench_pro_monthly',
  lookupKey: 'pro_monthly',
  unitAmount: 2900,
});

/**
 * 60 % benchmark 2's steady mix, 40 % renewal bursts: per renewing customer four events in
 * one second (the first of the month), after its steady history.
 */
function drainEvents(count: number, id: string): BuiltEvent[] {
  const steadyCount = Math.round(count * 0.6);
  const steady = buildEvents(steadyCount, { runId: id });
  const bursts = Math.floor((count - steadyCount) / 4);
  const customers = Math.max(1, Math.ceil(steadyCount / 4));
  const renewAt = Math.floor(Date.now() / 1000) + 1;
  const out = [...steady];
  for (let b = 0; b < bursts; b++) {
    const c = b % customers;
    const cycle = Math.floor(b / customers);
    const customerId = `cus_${id}c${c}`;
    const userId = `user_${id}_${c}`;
    const subId = `sub_${id}s${c}`;
    const invoiceId = `in_${id}r${c}x${cycle}`;
    const created = renewAt + cycle;
    const periodStart = created;
    const invoice = (status: 'draft' | 'open' | 'paid') =>
      invoiceObject({
        id: invoiceId,
        customer: customerId,
        subscription: subId,
        price: PRO_MONTHLY,
        status,
        created,
      });
    const events: { type: string; object: unknown; kind: BuiltEvent['kind']; objectId: string }[] =
      [
        { type: 'invoice.created', object: invoice('draft'), kind: 'invoice', objectId: invoiceId },
        {
          type: 'invoice.finalized',
          object: invoice('open'),
          kind: 'invoice',
          objectId: invoiceId,
        },
        { type: 'invoice.paid', object: invoice('paid'), kind: 'invoice', objectId: invoiceId },
        {
          type: 'customer.subscription.updated',
          object: subscriptionObject({
            id: subId,
            customer: customerId,
            userId,
            price: PRO_MONTHLY,
            status: 'active',
            currentPeriodStart: periodStart,
            created: renewAt - 86_400,
          }),
          kind: 'subscription',
          objectId: subId,
        },
      ];
    events.forEach((e, k) => {
      const eventId = `evt_${id}r${b}k${k}`;
      out.push({
        id: eventId,
        type: e.type,
        kind: e.kind,
        objectId: e.objectId,
        customerId,
        userId,
        created,
        body: JSON.stringify(
          stripeEvent({ id: eventId, type: e.type, object: e.object, created }),
          null,
          2,
        ),
      });
    });
  }
  return out;
}

async function main(): Promise<void> {
  const env = benchEnv();
  const count = env.BENCH_DRAIN_EVENTS;
  const concurrency = env.BENCH_WORKER_CONCURRENCY;
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-drain-'));
  const prefix = `{bench-${runId(6)}}`;
  const databaseUrl = await freshDatabase(env.DATABASE_URL, env.BENCH_DATABASE);
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const redis = await new RedisServer({ appendonly: true, appendfsync: 'everysec' }).start();
  const admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = createQueue(QUEUES.stripeEvents, { connection: admin, prefix });
  const target = {
    redisUrl: redis.url,
    redisPrefix: prefix,
    databaseUrl,
    secret: BENCH_WEBHOOK_SECRET,
    logDir,
    log: 'pipe' as const,
  };
  console.log(
    `drain benchmark: ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' ',
      )}, ${count} events, ${env.BENCH_ROUNDS} rounds, worker concurrency ${concurrency}, redis AOF everysec`,
  );

  /** Fills the queue (paused) with `events`, exactly as the ingress enqueues them. */
  const preload = async (events: BuiltEvent[]) => {
    await admin.flushall();
    await queue.pause();
    const opts = jobCatalog['stripe.event'].opts;
    for (let i = 0; i < events.length; i += 1_000) {
      await queue.addBulk(
        events.slice(i, i + 1_000).map((e) => ({
          name: 'stripe.event',
          data: {
            eventId: e.id,
            type: e.type,
            raw: e.body,
            receivedAt: Date.now(),
            secretIndex: 0,
          },
          opts: { ...opts, jobId: e.id },
        })),
      );
    }
  };

  const drainRound = async (variant: WorkerVariant, events: BuiltEvent[], label: string) => {
    await truncateSyncTables(sql);
    await preload(events);
    const proc = await startBenchWorker(variant, target, concurrency);
    const pgBefore = await workerBackendCpu(sql);
    const workerBefore = proc.cpuSeconds();
    const started = Date.now();
    await queue.resume();
    await waitFor(
      `${label}: backlog of ${events.length} drained`,
      async () => {
        const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
        return Object.values(c).reduce((a, b) => a + b, 0) === 0;
      },
      60 * 60_000,
      50,
    );
    const seconds = (Date.now() - started) / 1000;
    const workerCpu = proc.cpuSeconds() - workerBefore;
    const pgAfter = await workerBackendCpu(sql);
    let pgCpu = 0;
    for (const [pid, cpu] of pgAfter) pgCpu += cpu - (pgBefore.get(pid) ?? 0);
    const failed = (await queue.getJobCounts('failed')).failed ?? 0;
    let applied = 0;
    if (variant === 'full') {
      applied = Number(
        (
          await sql`select count(*)::int as n from webhook_events where status in ('processed', 'ignored')`
        )[0]!.n,
      );
    }
    const peak = proc.peakRssBytes();
    await proc.stop();
    return {
      variant,
      seconds,
      perSecond: events.length / seconds,
      failed,
      applied,
      workerCpuUs: (workerCpu / events.length) * 1e6,
      pgCpuUs: (pgCpu / events.length) * 1e6,
      peakRssMb: mb(peak),
    };
  };

  const id = runId(6);
  // Warm-up (a small backlog of each), then alternating measured rounds of the full backlog.
  await drainRound('noop', drainEvents(2_000, `${id}w`), 'warm no-op');
  await drainRound('full', drainEvents(2_000, `${id}x`), 'warm full');
  const rounds: Array<Awaited<ReturnType<typeof drainRound>>> = [];
  for (let r = 0; r < env.BENCH_ROUNDS; r++) {
    const events = drainEvents(count, `${id}r${r}`);
    rounds.push(await drainRound('noop', events, `no-op ${r + 1}`));
    rounds.push(await drainRound('full', events, `full ${r + 1}`));
  }
  console.log(
    table(
      rounds.map((x, i) => ({
        round: Math.floor(i / 2) + 1,
        worker: x.variant === 'full' ? 'full handler' : 'no-op',
        events: count,
        seconds: round(x.seconds, 2),
        'events/s': Math.round(x.perSecond),
        applied: x.variant === 'full' ? x.applied : '',
        failed: x.failed,
        'worker CPU µs/event': Math.round(x.workerCpuUs),
        'pg backends CPU µs/event': x.variant === 'full' ? Math.round(x.pgCpuUs) : '',
        'worker peak RSS MB': x.peakRssMb,
      })),
    ),
  );
  const full = rounds.filter((x) => x.variant === 'full');
  const noop = rounds.filter((x) => x.variant === 'noop');
  const fullRate = median(full.map((x) => x.perSecond));
  const noopRate = median(noop.map((x) => x.perSecond));
  const figures = {
    events: count,
    concurrency,
    full: {
      perSecond: round(fullRate),
      workerCpuUsPerEvent: Math.round(median(full.map((x) => x.workerCpuUs))),
      pgCpuUsPerEvent: Math.round(median(full.map((x) => x.pgCpuUs))),
      workerPeakRssMb: Math.max(...full.map((x) => x.peakRssMb)),
    },
    noop: {
      perSecond: round(noopRate),
      workerCpuUsPerEvent: Math.round(median(noop.map((x) => x.workerCpuUs))),
    },
    loadAverage: os.loadavg().map((l) => round(l, 1)),
  };
  console.log(
    `full worker: ${figures.full.perSecond} events/s, worker CPU ${figures.full.workerCpuUsPerEvent} µs/event (target ≤ 300), Postgres CPU ${figures.full.pgCpuUsPerEvent} µs/event (target ≤ 200)`,
  );
  console.log(
    `no-op worker: ${figures.noop.perSecond} jobs/s, ${figures.noop.workerCpuUsPerEvent} µs/job`,
  );
  const ratio = fullRate / noopRate;
  console.log(
    ratioLine(
      { name: 'full/no-op drain rate', value: fullRate, baseline: noopRate, ratio, target: 0.3 },
      '/s',
    ),
  );
  saveResult('drain', { ...figures, ratio: round(ratio, 2) });

  await queue.close();
  admin.disconnect();
  await sql.end({ timeout: 5 });
  await redis.destroy();
  if (process.argv.includes('--cpu-prof')) console.log(`cpu profiles in ${logDir}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
