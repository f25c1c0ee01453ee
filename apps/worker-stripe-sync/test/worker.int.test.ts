import { createDb, customers } from '@billing/db';
import { opsEnv } from '@billing/ops';
import { addJob, createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { type FakeStripe, startFakeStripe } from '@billing/stripe-fake';
import { eventually, useTestServices } from '@billing/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRIPE_SYNC_SCHEDULER_ID, startStripeSyncWorker } from '../src/worker.js';

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
        { timeoutMs: 60_000, what: 'the sync job' },
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
        { timeoutMs: 60_000, what: 'the failed attempt' },
      );
      expect(reason).toMatch(/stripe sync incomplete: products incomplete at start/);
    } finally {
      await running?.close();
      await queue.close();
    }
  });
});
