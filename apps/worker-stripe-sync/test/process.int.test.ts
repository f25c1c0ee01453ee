import { QUEUES } from '@billing/queue';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { startFakeStripe } from '@billing/stripe-fake';
import { freePort, startApp, useTestServices } from '@billing/testing';
import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { STRIPE_SYNC_SCHEDULER_ID } from '../src/worker.js';

const services = await useTestServices('stripe-sync-process');
const fake = await startFakeStripe();
const redis = createRedis(services.redisUrl, { role: 'producer' });
afterAll(async () => {
  await closeRedis(redis);
  await fake.close();
});

describe('worker-stripe-sync process', () => {
  it('registers the schedule, serves /healthz, /readyz and /metrics, and exits 0 on SIGTERM', {
    timeout: 120_000,
  }, async () => {
    const port = await freePort();
    const prefix = `${services.redisPrefix}proc`;
    const app = await startApp({
      app: 'worker-stripe-sync',
      port,
      timeoutMs: 60_000,
      env: {
        DATABASE_URL: services.databaseUrl,
        REDIS_URL: services.redisUrl,
        REDIS_PREFIX: prefix,
        WORKER_STRIPE_SYNC_PORT: String(port),
        STRIPE_SECRET_KEY: 'sk_test_process',
        STRIPE_API_BASE: fake.url,
        STRIPE_SYNC_CRON: '0 3 * * *',
      },
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain('billing_queue_jobs{queue="stripe-sync",state="delayed"');
      expect(metrics).toContain('billing_db_pool_max');
      expect((await fetch(`${base}/nope`)).status).toBe(404);

      await waitReady(redis);
      const queue = new Queue(QUEUES.stripeSync, { connection: redis, prefix });
      try {
        expect(await queue.getJobScheduler(STRIPE_SYNC_SCHEDULER_ID)).toMatchObject({
          pattern: '0 3 * * *',
          tz: 'UTC',
        });
      } finally {
        await queue.close();
      }
    } finally {
      expect(await app.stop()).toBe(0);
    }
  });
});
