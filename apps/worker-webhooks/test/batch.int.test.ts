/**
 * Group commit: several events in one batch transaction. Each test states what a user of the
 * worker would notice (rows, event marks, failed set), whatever the batch composition.
 */
import { createDb, type DbHandle, subscriptions, webhookEvents } from '@billing/db';
import { moduleLogger } from '@billing/logger';
import { createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis } from '@billing/redis';
import { customerObject, stripeEvent, subscriptionObject } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import type { Queue, Worker } from 'bullmq';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBatch, type ProcessDeps } from '../src/apply-batch.js';
import { startWebhookWorker } from '../src/worker.js';
import { eventually, type Harness, harness, jobPayload } from './support.js';

const services = await useTestServices('wh-batch');
let h: Harness;
const extraPools: DbHandle[] = [];

beforeAll(async () => {
  h = await harness(services, { lockTimeoutMs: 2_000 });
});
afterAll(async () => {
  await Promise.all(extraPools.map((p) => p.close()));
  await h.close();
});

const T0 = 1_760_000_000;
const batch = (deps: ProcessDeps, events: { id: string; type: string }[]) =>
  applyBatch(
    deps,
    events.map((event) => ({ payload: jobPayload(event) })),
  );
const subscriptionRow = async (id: string) =>
  (await h.db.db.select().from(subscriptions).where(eq(subscriptions.id, id)))[0];
const eventRows = async (ids: string[]) =>
  h.db.db.select().from(webhookEvents).where(inArray(webhookEvents.eventId, ids));

describe('two events about one object in one batch', () => {
  it('ends with the newer one in either order', async () => {
    for (const reversed of [false, true]) {
      const sub = subscriptionObject({ created: T0 });
      const older = stripeEvent({
        type: 'customer.subscription.updated',
        object: { ...sub, status: 'past_due' },
        created: T0 + 10,
      });
      const newer = stripeEvent({
        type: 'customer.subscription.updated',
        object: { ...sub, status: 'active', cancel_at_period_end: true },
        created: T0 + 11,
      });
      const results = await batch(h.deps, reversed ? [newer, older] : [older, newer]);
      expect(results.every((r) => r.ok)).toBe(true);
      expect(await subscriptionRow(sub.id)).toMatchObject({
        status: 'active',
        cancelAtPeriodEnd: true,
        lastEventId: newer.id,
      });
      // Both are done exactly once; the older one changed nothing.
      const rows = await eventRows([older.id, newer.id]);
      expect(rows.map((r) => [r.status, r.attempts])).toEqual([
        ['processed', 1],
        ['processed', 1],
      ]);
    }
  });

  it('ends with the later one of the same second in either order, decided from previous_attributes', async () => {
    for (const reversed of [false, true]) {
      const sub = subscriptionObject({ created: T0 });
      // Stripe's order: past_due (earlier), then back to active (later), same second.
      const earlier = stripeEvent({
        type: 'customer.subscription.updated',
        object: { ...sub, status: 'past_due' },
        previousAttributes: { status: 'active' },
        created: T0 + 20,
      });
      const later = stripeEvent({
        type: 'customer.subscription.updated',
        object: { ...sub, status: 'active', latest_invoice: 'in_paid' },
        previousAttributes: { status: 'past_due', latest_invoice: sub.latest_invoice ?? null },
        created: T0 + 20,
      });
      const results = await batch(h.deps, reversed ? [later, earlier] : [earlier, later]);
      expect(results.every((r) => r.ok)).toBe(true);
      expect(await subscriptionRow(sub.id)).toMatchObject({
        status: 'active',
        lastEventId: later.id,
      });
      const loser = results[reversed ? 1 : 0];
      expect(loser?.ok && loser.outcome.result).toMatchObject({ outcome: 'stale' });
    }
  });
});

describe('a duplicate of an already processed event in a batch', () => {
  it('is acknowledged as a duplicate and applied once; its neighbours are applied', async () => {
    const customer = customerObject({ userId: 'user_dup', created: T0 });
    const first = stripeEvent({
      type: 'customer.updated',
      object: { ...customer, name: 'First' },
      created: T0 + 1,
    });
    await batch(h.deps, [first]);
    const second = stripeEvent({
      type: 'customer.updated',
      object: { ...customer, name: 'Second' },
      created: T0 + 2,
    });
    // The done event again, a new one, and the new one twice within the same batch.
    const results = await batch(h.deps, [first, second, second]);
    expect(results.map((r) => r.ok && r.outcome.status)).toEqual([
      'duplicate',
      'processed',
      'duplicate',
    ]);
    const rows = await eventRows([first.id, second.id]);
    expect(rows.map((r) => r.attempts)).toEqual([1, 1]);
  });
});

describe('a failing event inside a batch of good ones', () => {
  it('commits the good ones; only the failing one fails, permanently, with its reason on its row', async () => {
    const good = Array.from({ length: 9 }, (_, i) =>
      stripeEvent({
        type: 'customer.subscription.created',
        object: subscriptionObject({ created: T0, quantity: i + 1 }),
        created: T0 + 30,
      }),
    );
    // Passes the payload schema but not Postgres: the quantity overflows an integer column.
    const poison = stripeEvent({
      type: 'customer.subscription.created',
      object: subscriptionObject({ created: T0, quantity: 3_000_000_000 }),
      created: T0 + 30,
    });
    const events = [...good.slice(0, 4), poison, ...good.slice(4)];
    const results = await batch(h.deps, events);
    expect(results.filter((r) => r.ok)).toHaveLength(9);
    const failed = results[4];
    expect(failed?.ok).toBe(false);
    expect(failed && !failed.ok && (failed.error as Error).name).toBe('UnrecoverableError');
    const rows = await eventRows(events.map((e) => e.id));
    const poisonRow = rows.find((r) => r.eventId === poison.id);
    expect(poisonRow).toMatchObject({ status: 'failed', attempts: 1 });
    expect(poisonRow?.error).toMatch(/out of range/);
    expect(rows.filter((r) => r.status === 'processed')).toHaveLength(9);
    for (const event of good) {
      const object = event.data.object as { id: string };
      expect(await subscriptionRow(object.id)).toBeDefined();
    }
  });

  it('retries only the event whose customer is locked elsewhere; the others commit', async () => {
    const held = customerObject({ userId: 'user_held', created: T0 });
    const free = Array.from({ length: 5 }, () => customerObject({ created: T0 }));
    const heldEvent = stripeEvent({ type: 'customer.updated', object: held, created: T0 + 1 });
    const freeEvents = free.map((c) =>
      stripeEvent({ type: 'customer.updated', object: c, created: T0 + 1 }),
    );
    const holder = createDb({ url: services.databaseUrl, max: 1 });
    extraPools.push(holder);
    const key = `billing:customer:${held.id}`;
    await holder.sql`select pg_advisory_lock(hashtextextended(${key}, 0))`;
    let results: Awaited<ReturnType<typeof applyBatch>>;
    try {
      results = await batch(h.deps, [...freeEvents.slice(0, 2), heldEvent, ...freeEvents.slice(2)]);
    } finally {
      await holder.sql`select pg_advisory_unlock(hashtextextended(${key}, 0))`;
    }
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    const heldResult = results[2];
    expect(heldResult?.ok).toBe(false);
    // Transient (lock_timeout): BullMQ retries it; the row records the attempt, nothing applied.
    expect(heldResult && !heldResult.ok && (heldResult.error as Error).name).not.toBe(
      'UnrecoverableError',
    );
    const [heldRow] = await eventRows([heldEvent.id]);
    expect(heldRow).toMatchObject({ status: 'received', attempts: 1 });
    expect(heldRow?.error).toMatch(/lock timeout|55P03/);
    // The retry applies it once.
    const retried = await batch(h.deps, [heldEvent]);
    expect(retried[0]?.ok && retried[0].outcome.status).toBe('processed');
  });

  it('through BullMQ: the good jobs complete, the poison one is dead-lettered alone with its reason', async () => {
    const queueRedis = createRedis(services.redisUrl, { role: 'producer' });
    const workerRedis = createRedis(services.redisUrl, { role: 'worker' });
    const queue: Queue = createQueue(QUEUES.stripeEvents, {
      connection: queueRedis,
      prefix: services.redisPrefix,
    });
    const worker: Worker = startWebhookWorker({
      ...h.deps,
      connection: workerRedis,
      concurrency: 50,
      batchSize: 20,
      batchWindowMs: 50,
      logger: moduleLogger('wh-batch-test'),
    });
    try {
      await worker.waitUntilReady();
      const good = Array.from({ length: 12 }, () =>
        stripeEvent({
          type: 'customer.subscription.created',
          object: subscriptionObject({ created: T0 }),
          created: T0 + 40,
        }),
      );
      const poison = stripeEvent({
        type: 'customer.subscription.created',
        object: subscriptionObject({ created: T0, quantity: 3_000_000_000 }),
        created: T0 + 40,
      });
      const events = [...good.slice(0, 6), poison, ...good.slice(6)];
      await queue.addBulk(
        events.map((event) => {
          const payload = jobPayload(event);
          return { name: 'stripe.event', data: payload, opts: { jobId: payload.eventId } };
        }),
      );
      const states = await eventually(async () => {
        const all = await Promise.all(
          events.map(async (e) => (await queue.getJob(e.id))?.getState()),
        );
        return all.every((s) => s === 'completed' || s === 'failed') ? all : undefined;
      }, 60_000);
      expect(states.filter((s) => s === 'completed')).toHaveLength(12);
      const failed = await queue.getFailed();
      expect(failed.map((j) => j.id)).toEqual([poison.id]);
      expect(failed[0]?.failedReason).toMatch(/out of range/);
      expect(failed[0]?.attemptsMade).toBe(1);
      const rows = await eventRows(events.map((e) => e.id));
      expect(rows.find((r) => r.eventId === poison.id)).toMatchObject({ status: 'failed' });
      expect(rows.filter((r) => r.status === 'processed' && r.attempts === 1)).toHaveLength(12);
    } finally {
      await worker.close();
      await queue.close();
      await closeRedis(workerRedis);
      await closeRedis(queueRedis);
    }
  });
});

describe('two workers with overlapping batches about the same customers', () => {
  it('neither deadlocks nor loses an event, and each object ends as if applied in order', async () => {
    // A second worker process: its own pool.
    const other = createDb({
      url: services.databaseUrl,
      max: 4,
      applicationName: 'wh-batch-other',
      lockTimeoutMs: 10_000,
    });
    extraPools.push(other);
    const otherDeps: ProcessDeps = { ...h.deps, db: other.db, lockTimeoutMs: 10_000 };
    const customersList = Array.from({ length: 12 }, () => customerObject({ created: T0 }));
    const subs = customersList.map((c) => subscriptionObject({ customer: c.id, created: T0 }));
    const events = subs.flatMap((sub, i) =>
      Array.from({ length: 5 }, (_, k) =>
        stripeEvent({
          type: 'customer.subscription.updated',
          object: { ...sub, metadata: { step: String(10 * i + k + 1) } },
          created: T0 + 100 + k,
        }),
      ),
    );
    const customerEvents = customersList.map((c, i) =>
      stripeEvent({
        type: 'customer.updated',
        object: { ...c, name: `Customer ${i}` },
        created: T0 + 100,
      }),
    );
    const all = [...events, ...customerEvents];
    // Deterministic shuffle; both workers get overlapping halves in opposite orders.
    const shuffled = all
      .map((e, i) => ({ e, k: (i * 7919) % all.length }))
      .sort((a, b) => a.k - b.k)
      .map(({ e }) => e);
    const a = shuffled.slice(0, Math.ceil(all.length * 0.7));
    const b = shuffled.slice(Math.floor(all.length * 0.3)).reverse();
    const rounds = await Promise.all([
      batch(h.deps, a.slice(0, 20)).then(async (r) => [
        ...r,
        ...(await batch(h.deps, a.slice(20))),
      ]),
      batch(otherDeps, b.slice(0, 20)).then(async (r) => [
        ...r,
        ...(await batch(otherDeps, b.slice(20))),
      ]),
    ]);
    for (const results of rounds) {
      for (const r of results)
        expect(r.ok ? 'ok' : String((r as { error: unknown }).error)).toBe('ok');
    }
    const rows = await eventRows(all.map((e) => e.id));
    expect(rows).toHaveLength(all.length);
    expect(rows.every((r) => r.status === 'processed' && r.attempts === 1)).toBe(true);
    for (const [i, sub] of subs.entries()) {
      expect(await subscriptionRow(sub.id)).toMatchObject({
        metadata: { step: String(10 * i + 5) },
        lastEventId: events[i * 5 + 4]!.id,
      });
    }
  });
});
