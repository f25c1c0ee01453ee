import { createDb, type DbHandle } from '@billing/db';
import { addJob, createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis } from '@billing/redis';
import { flushPrefix } from '@billing/testing';
import { processStripeEvent } from '@billing/worker-webhooks/engine';
import type { Redis } from 'ioredis';
import type postgres from 'postgres';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  appliedCounts,
  type BuiltEvent,
  buildEvents,
  cleanupAfterAll,
  DRILL_SECRET,
  drillDatabase,
  drillDir,
  type RunningApp,
  runId,
  sendAsStripe,
  sharedRedisTarget,
  signEvents,
  startIngressApp,
  startWebhookWorkerApp,
  truncateSyncTables,
  waitApplied,
  waitFor,
} from './support.js';

/**
 * Drills: duplicates and disorder, as Stripe produces them. Stripe retries deliveries, may
 * send one event more than once, and never promises order. The BullMQ job id (= event id)
 * absorbs duplicates only while the job is retained, so some duplicates below are injected
 * as jobs of their own to reach the database's own guarantee (unique event id, claim and
 * writes in one transaction, stale-write guard).
 */
const services = inject('services');
const db = await drillDatabase('order');
const reference = await drillDatabase('order_ref');
const prefix = `{fault-ord-${runId(6)}}`;
const dir = drillDir('delivery-order');
let ingress: RunningApp;
let worker: RunningApp;
let queueRedis: Redis;
let queue: ReturnType<typeof createQueue>;
cleanupAfterAll(
  () => ingress?.proc.stop(),
  () => worker?.proc.stop(),
  () => queue?.close(),
  () => queueRedis && closeRedis(queueRedis),
  () => flushPrefix(services.redisUrl, prefix),
);

beforeAll(async () => {
  const target = sharedRedisTarget(db, prefix, dir);
  [ingress, worker] = await Promise.all([
    startIngressApp(target),
    startWebhookWorkerApp(target, { concurrency: 8 }),
  ]);
  queueRedis = createRedis(services.redisUrl, { role: 'producer' });
  queue = createQueue(QUEUES.stripeEvents, { connection: queueRedis, prefix });
});

/** The same event as its own job (another job id): what a redelivery is once the job is gone. */
const enqueueAgain = (event: BuiltEvent, copy: number) =>
  addJob(
    queue,
    'stripe.event',
    {
      eventId: event.id,
      type: event.type,
      raw: event.body,
      receivedAt: Date.now(),
      secretIndex: 0,
    },
    { jobId: `${event.id}-copy${copy}` },
  );

const shuffle = <T>(list: T[]): T[] => {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};

/** Billing state as the API would read it; wall-clock bookkeeping columns left out. */
async function billingState(sql: postgres.Sql) {
  const state: Record<string, unknown[]> = {};
  for (const table of ['customers', 'subscriptions', 'subscription_items', 'invoices']) {
    const rows = await sql.unsafe(`select * from "${table}" order by id`);
    state[table] = rows.map((row: Record<string, unknown>) => {
      const { synced_at: _s, updated_at: _u, ...rest } = row;
      return rest;
    });
  }
  const events = await sql`select event_id, status from webhook_events order by event_id`;
  state.webhook_events = events.map((e) => ({ ...e }));
  return state;
}

describe('duplicates and disorder', () => {
  it('the same event delivered 5 times concurrently is acknowledged each time and applied once', async () => {
    const [event] = signEvents(
      buildEvents(1, { runId: runId(8), kinds: ['subscription'] }),
      DRILL_SECRET,
    );
    const five = Array.from({ length: 5 }, () => event!);
    const sent = await sendAsStripe(ingress.url, five, { concurrency: 5 });
    expect(sent.statuses).toEqual({ 200: 5 });
    // And the same again as five distinct jobs, processed concurrently by the worker.
    await Promise.all([1, 2, 3, 4, 5].map((copy) => enqueueAgain(event!, copy)));
    await waitFor(
      '6 jobs completed',
      async () => (await queue.getJobCountByTypes('completed')) >= 6,
      60_000,
    );
    expect((await appliedCounts(db.sql)).get(event!.id)).toBe(1);
    expect(await queue.getJobCountByTypes('failed')).toBe(0);
    const rows =
      await db.sql`select status, attempts from webhook_events where event_id = ${event!.id}`;
    expect(rows).toEqual([{ status: 'processed', attempts: 1 }]);
  });

  it('1,000 events in random order with duplicates end in the same state as in-order delivery', async () => {
    await db.sql`truncate drill_applied`;
    await truncateSyncTables(db.sql);
    const events = buildEvents(1_000, { runId: runId(8), customers: 40 });

    // Reference: each event applied once, in order, straight through the worker's own code.
    const ref: DbHandle = createDb({ url: reference.url, max: 2 });
    const refRedis = createRedis(services.redisUrl, { role: 'worker' });
    const silent = {
      child: () => silent,
      trace() {},
      debug() {},
      info() {},
      warn() {},
      error() {},
      fatal() {},
    };
    try {
      for (const event of events) {
        await processStripeEvent(
          { db: ref.db, redis: refRedis, redisPrefix: `${prefix}ref`, logger: silent as never },
          {
            eventId: event.id,
            type: event.type,
            raw: event.body,
            receivedAt: Date.now(),
            secretIndex: 0,
          },
        );
      }
    } finally {
      await ref.close();
      await closeRedis(refRedis);
    }

    // Drill: shuffled, 200 re-deliveries through the ingress mixed in, and 100 more as jobs of
    // their own (past the job-id dedupe) once everything else has been sent.
    const pick = (n: number) =>
      Array.from({ length: n }, () => events[Math.floor(Math.random() * events.length)]!);
    const traffic = shuffle([...events, ...pick(200)]);
    const sent = await sendAsStripe(ingress.url, signEvents(traffic, DRILL_SECRET), {
      concurrency: 16,
    });
    expect(sent.unacknowledged).toEqual([]);
    expect(sent.rejected.size).toBe(0);
    const copies = pick(100);
    await Promise.all(copies.map((event, i) => enqueueAgain(event, 100 + i)));
    await waitApplied(
      db.sql,
      events.map((e) => e.id),
      180_000,
    );
    await waitFor(
      'every job done',
      async () =>
        (await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized')).wait === 0 &&
        (await queue.getActiveCount()) === 0 &&
        (await queue.getDelayedCount()) === 0,
      120_000,
    );

    const counts = await appliedCounts(db.sql);
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
    expect(counts.size).toBe(events.length);
    expect(await queue.getJobCountByTypes('failed')).toBe(0);
    const expected = await billingState(reference.sql);
    for (const table of ['customers', 'subscriptions', 'invoices'])
      expect(expected[table]!.length).toBeGreaterThan(0);
    expect(await billingState(db.sql)).toEqual(expected);
  });
});
