import { createDb, customers } from '@billing/db';
import { addJob, closeRedis, createQueue, createRedis, QUEUES, waitReady } from '@billing/queue';
import { useTestServices } from '@billing/testing';
import { type FakeStripe, startFakeStripe } from '@billing/testing/stripe';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opsEnv } from '../src/env.js';
import { dbPoolMetrics, queueMetrics } from '../src/metrics.js';
import { STRIPE_SYNC_SCHEDULER_ID, startStripeSyncWorker } from '../src/stripe-sync.js';
import { eventually } from './support.js';

const services = await useTestServices('ops-sync');
const handle = createDb({ url: services.databaseUrl, max: 4, applicationName: 'ops-sync-test' });
const producer = createRedis(services.redisUrl, { role: 'producer' });
const workerConnection = createRedis(services.redisUrl, { role: 'worker' });
const fake: FakeStripe = await startFakeStripe();
const factory = { connection: producer, prefix: services.redisPrefix };

beforeAll(async () => {
  await waitReady(producer);
});
afterAll(async () => {
  await fake.close();
  await closeRedis(producer);
  await closeRedis(workerConnection);
  await handle.close();
});

const workerOptions = (cron: string | undefined) => ({
  connection: workerConnection,
  prefix: services.redisPrefix,
  db: handle.db,
  sql: handle.sql,
  stripe: fake.stripe,
  cron,
  fillGaps: true,
  backoff: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 5 },
});

describe('scheduled stripe sync', () => {
  it('is off unless STRIPE_SYNC_CRON is set', () => {
    expect(opsEnv({}).STRIPE_SYNC_CRON).toBeUndefined();
    expect(opsEnv({ STRIPE_SYNC_CRON: '0 3 * * *' }).STRIPE_SYNC_CRON).toBe('0 3 * * *');
    expect(() => opsEnv({ STRIPE_SYNC_CRON: 'nightly' })).toThrow(/STRIPE_SYNC_CRON/);
    expect(() => opsEnv({ OPS_BASIC_USER: 'oncall' })).toThrow(/OPS_BASIC_PASSWORD/);
  });

  it('schedules the job from the cron, runs a sync through the worker, and removes the schedule when turned off', {
    timeout: 60_000,
  }, async () => {
    fake.state.seedCustomers(12, (i) => ({ email: `sync${i}@example.com` }));
    const queue = createQueue(QUEUES.stripeSync, factory);
    try {
      const running = await startStripeSyncWorker(workerOptions('0 3 * * *'));
      expect(running).toBeDefined();
      const scheduler = await queue.getJobScheduler(STRIPE_SYNC_SCHEDULER_ID);
      expect(scheduler).toMatchObject({ pattern: '0 3 * * *', tz: 'UTC' });

      const job = await addJob(queue, 'stripe.sync', {
        resources: ['customers'],
        fillGaps: true,
        trigger: 'manual',
      });
      const done = await eventually(
        async () => {
          const state = await job.getState();
          if (state === 'failed')
            throw new Error(`sync failed: ${(await queue.getJob(job.id!))?.failedReason}`);
          return state === 'completed' ? queue.getJob(job.id!) : undefined;
        },
        60_000,
        'the sync job',
      );
      expect(done?.returnvalue).toEqual({
        resources: [{ resource: 'customers', processed: 12, applied: 12, drifted: 12, errors: 0 }],
        gaps: { scanned: 0, enqueued: 0 },
      });
      expect(await handle.db.select({ id: customers.id }).from(customers)).toHaveLength(12);
      await running?.close();

      expect(await startStripeSyncWorker(workerOptions(undefined))).toBeUndefined();
      expect(await queue.getJobScheduler(STRIPE_SYNC_SCHEDULER_ID)).toBeUndefined();
    } finally {
      await queue.close();
    }
  });

  it('fails the job (so BullMQ retries and resumes) when the run is incomplete', {
    timeout: 60_000,
  }, async () => {
    fake.state.seedCustomers(3);
    fake.failNext(50, 429, { path: '/v1/products', retryAfterSeconds: 0 });
    const queue = createQueue(QUEUES.stripeSync, factory);
    const running = await startStripeSyncWorker(workerOptions('0 4 * * *'));
    try {
      const job = await addJob(queue, 'stripe.sync', {
        resources: ['products'],
        fillGaps: false,
        trigger: 'manual',
      });
      const reason = await eventually(
        async () => {
          const current = await queue.getJob(job.id!);
          // The first attempt failed; BullMQ has scheduled the retry (delayed).
          return current?.failedReason || undefined;
        },
        60_000,
        'the failed attempt',
      );
      expect(reason).toMatch(/stripe sync incomplete: products incomplete at start/);
    } finally {
      await running?.close();
      await queue.close();
    }
  });
});

describe('queue and pool metrics', () => {
  it('reports waiting, active, delayed and failed jobs per queue on scrape, and pool use', async () => {
    const metricsPrefix = `${services.redisPrefix}-m`;
    const events = createQueue(QUEUES.stripeEvents, {
      connection: producer,
      prefix: metricsPrefix,
    });
    const rollup = createQueue(QUEUES.usageRollup, { connection: producer, prefix: metricsPrefix });
    try {
      const registry = new Registry();
      queueMetrics(registry, [events, rollup]);
      dbPoolMetrics(registry, { sql: handle.sql, max: 4, applicationName: 'ops-sync-test' });
      for (let i = 0; i < 3; i++) {
        await addJob(events, 'stripe.event', {
          eventId: `evt_m_${i}`,
          type: 'customer.created',
          raw: '{}',
          receivedAt: Date.now(),
          secretIndex: 0,
        });
      }
      await addJob(rollup, 'usage.rollup', { trigger: 'manual' }, { delay: 60_000 });

      const text = await registry.metrics();
      expect(text).toContain('billing_queue_jobs{queue="stripe-events",state="waiting"} 3');
      expect(text).toContain('billing_queue_jobs{queue="stripe-events",state="failed"} 0');
      expect(text).toContain('billing_queue_jobs{queue="usage-rollup",state="delayed"} 1');
      expect(text).toContain('billing_queue_jobs{queue="usage-rollup",state="active"} 0');
      expect(text).toContain('billing_db_pool_max 4');
      expect(text).toMatch(/billing_db_pool_connections\{state="open"\} [1-4]\n/);

      await addJob(events, 'stripe.event', {
        eventId: 'evt_m_3',
        type: 'customer.created',
        raw: '{}',
        receivedAt: Date.now(),
        secretIndex: 0,
      });
      expect(await registry.metrics()).toContain(
        'billing_queue_jobs{queue="stripe-events",state="waiting"} 4',
      );
    } finally {
      await events.obliterate({ force: true });
      await rollup.obliterate({ force: true });
      await Promise.all([events.close(), rollup.close()]);
    }
  });
});
