import { flushPrefix } from '@billing/testing';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  buildEvents,
  cleanupAfterAll,
  DRILL_SECRET,
  drillDir,
  exactlyOnceReport,
  freshDatabase,
  installObserver,
  PostgresCluster,
  type RunningApp,
  runId,
  sendAsStripe,
  signEvents,
  sleep,
  startIngressApp,
  startWebhookWorkerApp,
  waitApplied,
  waitFor,
} from './support.js';

/**
 * Drill: Postgres goes away for 20 s while the worker is applying events (a crash stop:
 * `pg_ctl -m immediate`, open transactions cut), on a cluster of this drill's own. Deliveries
 * keep being acknowledged (the ingress never touches Postgres); the worker's attempts fail
 * and are retried with backoff; once Postgres is back everything is applied, exactly once.
 */
const EVENTS = 600;
const OUTAGE_MS = 20_000;
const services = inject('services');
const prefix = `{fault-pg-${runId(6)}}`;
const dir = drillDir('postgres-outage');
const pg = new PostgresCluster();
let sql: postgres.Sql;
let ingress: RunningApp;
let worker: RunningApp;
let redis: Redis;
cleanupAfterAll(
  () => ingress?.proc.stop(),
  () => worker?.proc.stop(),
  () => sql?.end({ timeout: 2 }),
  () => pg.destroy(),
  () => redis?.quit(),
  () => flushPrefix(services.redisUrl, prefix),
);

beforeAll(async () => {
  await pg.init();
  pg.start();
  const url = await freshDatabase(pg.url(), 'billing');
  sql = postgres(url, { max: 2, onnotice: () => {} });
  await installObserver(sql);
  redis = new Redis(services.redisUrl);
  const target = {
    redisUrl: services.redisUrl,
    redisPrefix: prefix,
    databaseUrl: url,
    secret: DRILL_SECRET,
    logDir: dir,
    logLevel: 'warn',
  };
  [ingress, worker] = await Promise.all([
    startIngressApp(target),
    startWebhookWorkerApp(target, { concurrency: 8 }),
  ]);
});

describe('Postgres unavailable for 20 s during processing', () => {
  it('retries until Postgres is back, then applies every acknowledged event exactly once', async () => {
    const events = signEvents(
      buildEvents(EVENTS, { runId: runId(8), customers: 100 }),
      DRILL_SECRET,
    );
    const sending = sendAsStripe(ingress.url, events, { concurrency: 8 });
    await waitFor(
      '100 events applied',
      async () => {
        const [row] = await sql<{ n: number }[]>`select count(*)::int as n from drill_applied`;
        return Number(row?.n) >= 100;
      },
      120_000,
      20,
    );

    pg.stop('immediate');
    const down = Date.now();
    await sleep(OUTAGE_MS);
    // While it was down the worker kept failing attempts; nothing was dead-lettered.
    const failedDuringOutage = await redis.zcard(`${prefix}:stripe-events:failed`);
    pg.start();
    console.log(`postgres was down ${Date.now() - down} ms`);

    const sent = await sending;
    expect(sent.unacknowledged).toEqual([]);
    expect(sent.acknowledged.size).toBe(EVENTS);
    await waitApplied(sql, sent.acknowledged.keys(), 180_000);

    const report = await exactlyOnceReport(sql, sent.acknowledged.keys());
    expect(report.lost).toEqual([]);
    expect(report.wronglyIgnored).toEqual([]);
    expect(report.duplicated).toEqual([]);
    expect(failedDuringOutage).toBe(0);
    expect(await redis.zcard(`${prefix}:stripe-events:failed`)).toBe(0);
    // Attempts that failed during the outage were recorded where Postgres allowed, and the
    // events were retried: some events took more than one attempt.
    const [retried] = await sql<
      { n: number }[]
    >`select count(*)::int as n from webhook_events where attempts > 1`;
    console.log(`${retried?.n} events needed more than one attempt`);
    const [notDone] = await sql<{ n: number }[]>`
      select count(*)::int as n from webhook_events where status not in ('processed', 'ignored')`;
    expect(Number(notDone?.n)).toBe(0);
    expect(worker.proc.alive()).toBe(true);
  });
});
