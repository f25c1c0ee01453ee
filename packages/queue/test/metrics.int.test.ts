import { createDb } from '@billing/db';
import { dbPoolMetrics } from '@billing/db/metrics';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { useTestServices } from '@billing/testing';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addJob, createQueue, QUEUES } from '../src/index.js';
import { queueMetrics } from '../src/metrics.js';

const services = await useTestServices('queue-metrics');
const handle = createDb({ url: services.databaseUrl, max: 4, applicationName: 'ops-sync-test' });
const producer = createRedis(services.redisUrl, { role: 'producer' });

beforeAll(async () => {
  await waitReady(producer);
});
afterAll(async () => {
  await closeRedis(producer);
  await handle.close();
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
