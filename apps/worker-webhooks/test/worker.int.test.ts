import type { AddressInfo } from 'node:net';
import { fields, invalidationChannel, parseInvalidation, userKey } from '@billing/cache';
import { createDb, subscriptions, webhookEvents } from '@billing/db';
import { moduleLogger } from '@billing/logger';
import { addJob, createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis } from '@billing/redis';
import { closeServer, createRegistry, listen } from '@billing/runtime';
import { customerObject, stripeEvent, subscriptionObject } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import type { Queue, Worker } from 'bullmq';
import { eq } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerMetrics, type WorkerMetrics } from '../src/metrics.js';
import { createWorkerApp } from '../src/server.js';
import { startWebhookWorker } from '../src/worker.js';
import { eventually, type Harness, harness, jobPayload } from './support.js';

const services = await useTestServices('wh-worker');
let h: Harness;
let queue: Queue;
let queueRedis: Redis;
let workerRedis: Redis;
let worker: Worker;
let metrics: WorkerMetrics;
const registry = createRegistry('worker-webhooks-test');

beforeAll(async () => {
  // A short lock timeout so the transient-failure test fails fast on a held row lock.
  h = await harness(services, { lockTimeoutMs: 300 });
  metrics = createWorkerMetrics(registry);
  queueRedis = createRedis(services.redisUrl, { role: 'producer' });
  workerRedis = createRedis(services.redisUrl, { role: 'worker' });
  queue = createQueue(QUEUES.stripeEvents, {
    connection: queueRedis,
    prefix: services.redisPrefix,
  });
  worker = startWebhookWorker({
    ...h.deps,
    metrics,
    connection: workerRedis,
    concurrency: 4,
    logger: moduleLogger('worker-webhooks-test'),
  });
  await worker.waitUntilReady();
});

afterAll(async () => {
  await worker.close();
  await queue.close();
  await closeRedis(workerRedis);
  await closeRedis(queueRedis);
  await h.close();
});

/** Enqueues exactly as the ingress does: the catalog job, jobId = event id. */
async function enqueue(event: { id: string; type: string }) {
  const payload = jobPayload(event);
  return addJob(queue, 'stripe.event', payload, { jobId: payload.eventId });
}

/**
 * The job once it has finished. The state is read first and the job after it: a job read
 * while a retry is still running would pair its earlier attemptsMade with the final state.
 */
async function finished(jobId: string) {
  return eventually(async () => {
    const state = await queue.getJobState(jobId);
    if (state !== 'completed' && state !== 'failed') return undefined;
    const job = await queue.getJob(jobId);
    return job ? { job, state } : undefined;
  });
}

const eventRow = async (id: string) =>
  (await h.db.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, id)))[0];

describe('webhook worker on the stripe-events queue', () => {
  it('applies a queued event, then drops the user cache and publishes the invalidation after the commit', async () => {
    const sub = subscriptionObject({ userId: 'user_w1', price: { lookupKey: 'pro_monthly' } });
    const key = userKey(services.redisPrefix, 'user_w1');
    await h.redis.hset(key, fields.subscription, JSON.stringify({ stale: true }));

    // Subscribe first; on the message, look at Postgres: the write must already be visible.
    const subscriber = createRedis(services.redisUrl, { role: 'worker' });
    const seen: Array<{ userIds: string[]; committedStatus: string | undefined; cached: number }> =
      [];
    subscriber.on('message', async (_channel, message) => {
      const parsed = parseInvalidation(message);
      const [stored] = await h.db.db
        .select()
        .from(subscriptions)
        .where(eq(subscriptions.id, sub.id));
      seen.push({
        userIds: parsed?.userIds ?? [],
        committedStatus: stored?.status,
        cached: await h.redis.hexists(key, fields.subscription),
      });
    });
    await subscriber.subscribe(invalidationChannel(services.redisPrefix));
    try {
      const event = stripeEvent({ type: 'customer.subscription.created', object: sub });
      await enqueue(event);
      const { state } = await finished(event.id);
      expect(state).toBe('completed');
      await eventually(async () => seen.length > 0);
      expect(seen[0]).toEqual({ userIds: ['user_w1'], committedStatus: 'active', cached: 0 });
      expect(await eventRow(event.id)).toMatchObject({ status: 'processed', attempts: 1 });
    } finally {
      await closeRedis(subscriber);
    }
  });

  it('takes effect once when the same event is queued three times', async () => {
    const customer = customerObject({ userId: 'user_w3' });
    const event = stripeEvent({ type: 'customer.created', object: customer });
    for (let i = 0; i < 3; i++) await enqueue(event);
    await finished(event.id);
    // A redelivery after the job is gone from Redis (other job id) is still a no-op in Postgres.
    const again = jobPayload(event);
    const job = await addJob(queue, 'stripe.event', again, { jobId: `${event.id}-redelivery` });
    expect((await finished(job.id!)).state).toBe('completed');
    expect(job.id).not.toBe(event.id);
    expect(await eventRow(event.id)).toMatchObject({ status: 'processed', attempts: 1 });
    expect(await h.db.db.$count(webhookEvents, eq(webhookEvents.eventId, event.id))).toBe(1);
  });

  it('sends a permanently failing event straight to the failed set with the reason on its row', async () => {
    const sub = subscriptionObject() as unknown as Record<string, unknown>;
    delete sub.customer;
    const event = stripeEvent({ type: 'customer.subscription.updated', object: sub });
    await enqueue(event);
    const { job, state } = await finished(event.id);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/customer/);
    const failed = await queue.getFailed();
    expect(failed.map((j) => j.id)).toContain(event.id);
    const stored = await eventRow(event.id);
    expect(stored?.status).toBe('failed');
    expect(stored?.error).toMatch(/customer/);
  });

  it('retries a transient failure (a row lock held past lock_timeout) with backoff, then applies it once', async () => {
    const sub = subscriptionObject({ userId: 'user_w4' });
    const created = stripeEvent({
      type: 'customer.subscription.created',
      object: sub,
      created: 1_760_000_000,
    });
    await enqueue(created);
    await finished(created.id);

    // Another session holds the subscription row while the next event arrives.
    const other = createDb({ url: services.databaseUrl, max: 1 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = other.sql.begin(async (tx) => {
      await tx`select id from subscriptions where id = ${sub.id} for update`;
      locked();
      await released;
    });
    await isLocked;
    try {
      const updated = stripeEvent({
        type: 'customer.subscription.updated',
        object: { ...sub, status: 'past_due' },
        created: 1_760_000_100,
      });
      await enqueue(updated);
      // The first attempt times out on the lock (55P03): recorded on the row, job retried.
      const failedOnce = await eventually(async () => {
        const stored = await eventRow(updated.id);
        return stored && stored.attempts >= 1 && stored.status === 'received' ? stored : undefined;
      });
      expect(failedOnce.error).toMatch(/55P03|lock timeout/);
      expect(await (await queue.getJob(updated.id))?.getState()).toMatch(/delayed|waiting|active/);
      release();
      await holder;
      const { job, state } = await finished(updated.id);
      expect(state).toBe('completed');
      // BullMQ counts every finished attempt: at least the failed one and the one that applied.
      expect(job.attemptsMade).toBeGreaterThanOrEqual(2);
      // attempts counts the failed tries and the one that applied it.
      expect(await eventRow(updated.id)).toMatchObject({
        status: 'processed',
        error: null,
        attempts: job.attemptsMade,
      });
      const [stored] = await h.db.db
        .select()
        .from(subscriptions)
        .where(eq(subscriptions.id, sub.id));
      expect(stored).toMatchObject({ status: 'past_due', lastEventId: updated.id });
      const retried = await metrics.retried.get();
      expect(
        retried.values.find((v) => v.labels.type === 'customer.subscription.updated')?.value,
      ).toBeGreaterThanOrEqual(1);
    } finally {
      release();
      await holder.catch(() => {});
      await other.close();
    }
  });

  it('records and acknowledges an unknown event type', async () => {
    const event = stripeEvent({
      type: 'charge.succeeded',
      object: { id: 'ch_123', object: 'charge' },
    });
    await enqueue(event);
    expect((await finished(event.id)).state).toBe('completed');
    expect(await eventRow(event.id)).toMatchObject({ status: 'ignored' });
  });

  it('serves /healthz, /readyz and /metrics with processed counts by type', async () => {
    const app = createWorkerApp({
      registry,
      logger: moduleLogger('worker-webhooks-test'),
      isShuttingDown: () => false,
      ready: async () => {
        if (!worker.isRunning()) throw new Error('worker not running');
      },
    });
    const server = await listen(app, 0, '127.0.0.1');
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toMatch(
        /webhook_events_processed_total\{[^}]*type="customer.created"[^}]*outcome="processed"[^}]*\} 1/,
      );
      expect(text).toMatch(/webhook_events_failed_total\{[^}]*reason="permanent"/);
      expect(text).toContain('webhook_event_lag_seconds_bucket');
      expect(text).toContain('webhook_event_processing_seconds_bucket');
    } finally {
      await closeServer(server);
    }
  });

  it('finishes the in-flight job when closed', async () => {
    const sub = subscriptionObject({ userId: 'user_w5' });
    const created = stripeEvent({
      type: 'customer.subscription.created',
      object: sub,
      created: 1_760_000_000,
    });
    // A second worker (the one under test) on the same queue, closed mid-job.
    const redis = createRedis(services.redisUrl, { role: 'worker' });
    const other = createDb({ url: services.databaseUrl, max: 1 });
    await worker.pause(true);
    const closing = startWebhookWorker({
      ...h.deps,
      lockTimeoutMs: 10_000,
      connection: redis,
      concurrency: 1,
      logger: moduleLogger('closing'),
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      await enqueue(
        stripeEvent({ type: 'customer.subscription.created', object: sub, created: 1_759_999_000 }),
      );
      await eventually(
        async () => (await h.db.db.$count(subscriptions, eq(subscriptions.id, sub.id))) === 1,
      );
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = other.sql.begin(async (tx) => {
        await tx`select id from subscriptions where id = ${sub.id} for update`;
        locked();
        await released;
      });
      await isLocked;
      await enqueue(created);
      await eventually(
        async () => (await (await queue.getJob(created.id))?.getState()) === 'active',
      );
      const closed = closing.close();
      release();
      await holder;
      await closed;
      expect(await (await queue.getJob(created.id))?.getState()).toBe('completed');
      expect(await eventRow(created.id)).toMatchObject({ status: 'processed' });
    } finally {
      release();
      await closing.close();
      worker.resume();
      await closeRedis(redis);
      await other.close();
    }
  });
});
