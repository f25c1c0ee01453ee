import path from 'node:path';
import { type FakeStripe, FakeStripeState, startFakeStripe } from '@billing/stripe-fake';
import { Redis } from 'ioredis';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { flushPrefix } from '../../packages/testing/src/services.js';
import {
  type BuiltEvent,
  baseChildEnv,
  cleanupAfterAll,
  drillDatabase,
  drillDir,
  exactlyOnceReport,
  freePort,
  type NodeProcess,
  type RunningApp,
  runId,
  sendAsStripe,
  sharedRedisTarget,
  spawnApp,
  startIngressApp,
  startWebhookWorkerApp,
  waitApplied,
  waitHttpOk,
} from './support.js';

/**
 * Drill: acknowledged events are removed from Redis behind the system's back (what an
 * `appendfsync everysec` crash does to the last ~2 s of jobs). Stripe saw a 2xx and never
 * redelivers them; the event reconciliation sweep (worker-stripe-sync, on because a Stripe key is
 * configured) must find them in Stripe's event list and have them applied, exactly once.
 */
const db = await drillDatabase('event_sweep');
const services = inject('services');
const prefix = `{fault-sweep-${runId(6)}}`;
const dir = drillDir('event-sweep');
const target = sharedRedisTarget(db, prefix, dir);
let fake: FakeStripe;
let ingress: RunningApp;
let worker: RunningApp | undefined;
let usage: NodeProcess | undefined;
let redis: Redis;
cleanupAfterAll(
  () => ingress?.proc.stop(),
  () => worker?.proc.stop(),
  () => usage?.stop(10_000),
  () => fake?.close(),
  () => redis?.quit(),
  () => flushPrefix(services.redisUrl, prefix),
);

beforeAll(async () => {
  redis = new Redis(services.redisUrl);
  fake = await startFakeStripe({ state: new FakeStripeState() });
  ingress = await startIngressApp(target);
});

describe('acknowledged events lost from Redis', () => {
  it('are applied again by the event sweep, exactly once', async () => {
    const run = runId(6);
    for (let i = 0; i < 40; i++) fake.state.createCustomer({ userId: `user_${run}_${i}` });
    const events: BuiltEvent[] = [...fake.state.events.values()].map(
      (event) => ({ id: event.id, body: JSON.stringify(event, null, 2) }) as BuiltEvent,
    );
    const sent = await sendAsStripe(ingress.url, events, { concurrency: 8 });
    expect(sent.acknowledged.size).toBe(40);

    // Behind the system's back: 15 acknowledged jobs vanish before any worker ran them.
    const q = `${prefix}:stripe-events`;
    const lost = events.slice(0, 15).map((e) => e.id);
    for (const id of lost) {
      await redis.lrem(`${q}:wait`, 0, id);
      await redis.zrem(`${q}:prioritized`, id);
      await redis.del(`${q}:${id}`);
    }
    worker = await startWebhookWorkerApp(target, { concurrency: 4 });
    await waitApplied(
      db.sql,
      events.slice(15).map((e) => e.id),
      120_000,
    );
    expect(
      (
        await exactlyOnceReport(
          db.sql,
          events.map((e) => e.id),
        )
      ).lost.sort(),
    ).toEqual([...lost].sort());

    const port = await freePort();
    usage = spawnApp('worker-stripe-sync', {
      name: 'worker-stripe-sync',
      env: {
        ...baseChildEnv(),
        NODE_ENV: 'development',
        LOG_LEVEL: 'warn',
        REDIS_URL: services.redisUrl,
        REDIS_PREFIX: prefix,
        DATABASE_URL: db.url,
        WORKER_STRIPE_SYNC_PORT: String(port),
        STRIPE_SECRET_KEY: 'sk_test_fault_drill_sweep',
        STRIPE_API_BASE: fake.url,
        STRIPE_EVENT_SWEEP_INTERVAL_SECONDS: '2',
        STRIPE_EVENT_SWEEP_MIN_AGE_SECONDS: '0',
      },
      logFile: path.join(dir, 'worker-stripe-sync.log'),
    });
    await waitHttpOk(usage, `http://127.0.0.1:${port}/readyz`);
    await waitApplied(db.sql, lost, 120_000);

    const report = await exactlyOnceReport(
      db.sql,
      events.map((e) => e.id),
    );
    expect(report.lost).toEqual([]);
    expect(report.wronglyIgnored).toEqual([]);
    expect(report.duplicated).toEqual([]);
    const [cursor] = await db.sql<{ recovered: number }[]>`
      select recovered from stripe_event_sweeps`;
    expect(cursor?.recovered).toBeGreaterThanOrEqual(15);
  });
});
