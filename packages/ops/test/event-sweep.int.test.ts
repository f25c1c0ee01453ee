import { createDb, stripeEventSweeps, webhookEvents } from '@billing/db';
import { createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { type FakeStripe, FakeStripeState, startFakeStripe } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EVENT_SWEEP_SCHEDULER_ID,
  startEventSweepWorker,
  sweepStripeEvents,
} from '../src/event-sweep.js';

/**
 * The event reconciliation sweep against the fake Stripe's GET /v1/events (created[gte] /
 * created[lte]): every event Stripe has that webhook_events lacks is enqueued, whatever its
 * delivery_success; the window moves with a cursor in Postgres; one id comparison per page.
 */
const services = await useTestServices('ops-event-sweep');
const handle = createDb({ url: services.databaseUrl, max: 4 });
const producer = createRedis(services.redisUrl, { role: 'producer' });
const workerConnection = createRedis(services.redisUrl, { role: 'worker' });
let clock = Math.floor(Date.now() / 1000);
let fake: FakeStripe;
const queue = createQueue(QUEUES.stripeEvents, {
  connection: producer,
  prefix: services.redisPrefix,
});

beforeAll(async () => {
  await waitReady(producer);
  fake = await startFakeStripe({ state: new FakeStripeState({ now: () => clock }) });
});
afterAll(async () => {
  await queue.close();
  await fake?.close();
  await closeRedis(producer);
  await closeRedis(workerConnection);
  await handle.close();
});

const options = {
  overlapSeconds: 120,
  minAgeSeconds: 60,
  firstWindowSeconds: 3600,
  now: () => clock * 1000,
};
const sweep = () => sweepStripeEvents({ db: handle.db, stripe: fake.stripe, queue }, options);

/** Marks events applied, as the webhook worker would have. */
async function applied(ids: string[]) {
  if (ids.length === 0) return;
  await handle.db.insert(webhookEvents).values(
    ids.map((eventId) => ({
      eventId,
      type: 'customer.created',
      created: new Date(clock * 1000),
      payload: {},
      status: 'processed' as const,
      attempts: 1,
    })),
  );
}

const eventIds = () => [...fake.state.events.keys()];

describe('event reconciliation sweep', () => {
  it('enqueues exactly the events webhook_events lacks, acknowledged or not, and moves its cursor', async () => {
    clock -= 600;
    for (let i = 0; i < 130; i++) fake.state.createCustomer({ userId: `sweep_${i}` });
    const all = eventIds();
    expect(all).toHaveLength(130);
    // 100 arrived and were applied; 30 were acknowledged but lost with Redis before they ran.
    await applied(all.slice(0, 100));
    const lost = all.slice(100).sort();
    clock += 600;
    // Too young to judge: its webhook may still be in flight.
    fake.state.createCustomer({ userId: 'sweep_fresh' });
    const fresh = eventIds().at(-1)!;

    const first = await sweep();
    expect(first.status).toBe('complete');
    expect(first.scanned).toBe(130);
    expect([...first.recovered].sort()).toEqual(lost);
    expect(first.pages).toBe(2);
    const jobs = await queue.getJobs(['wait', 'prioritized', 'delayed']);
    expect(jobs.map((job) => job.id).sort()).toEqual(lost);
    expect(JSON.parse(jobs[0]!.data.raw).id).toBe(jobs[0]!.id);
    const [cursor] = await handle.db.select().from(stripeEventSweeps);
    expect(cursor?.sweptThrough.getTime()).toBe((clock - 60) * 1000);
    expect(cursor?.recovered).toBe(30);

    // The worker applies them; nothing is missing any more: nothing enqueued, one comparison a page.
    await applied(lost);
    const second = await sweep();
    expect(second.recovered).toEqual([]);
    expect(second.scanned).toBe(0); // the window starts at the cursor minus the overlap
    expect(second.lagSeconds).toBe(60);

    // Later the young event is old enough; it never arrived: the next sweep brings it.
    clock += 300;
    const third = await sweep();
    expect(third.recovered).toEqual([fresh]);
  });

  it('runs on its schedule, recovers what is missing, exports its metrics, and is removed at interval 0', async () => {
    clock += 600;
    fake.state.createCustomer({ userId: 'sweep_scheduled' });
    const missing = eventIds().at(-1)!;
    clock += 120;
    const registry = new Registry();
    const running = await startEventSweepWorker({
      connection: workerConnection,
      prefix: services.redisPrefix,
      db: handle.db,
      stripe: fake.stripe,
      intervalSeconds: 1,
      overlapSeconds: 3600,
      minAgeSeconds: 60,
      registry,
      now: () => clock * 1000,
    });
    try {
      const sweepQueue = createQueue(QUEUES.stripeEventSweep, {
        connection: producer,
        prefix: services.redisPrefix,
      });
      expect(await sweepQueue.getJobScheduler(EVENT_SWEEP_SCHEDULER_ID)).toMatchObject({
        every: 1000,
      });
      await sweepQueue.close();
      const deadline = Date.now() + 60_000;
      while (!(await queue.getJob(missing)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect((await queue.getJob(missing))?.data.eventId).toBe(missing);
      expect(await registry.metrics()).toMatch(/stripe_event_sweep_recovered_total [1-9]/);
    } finally {
      await running?.close();
    }
    const off = await startEventSweepWorker({
      connection: workerConnection,
      prefix: services.redisPrefix,
      db: handle.db,
      stripe: fake.stripe,
      intervalSeconds: 0,
      overlapSeconds: 600,
      minAgeSeconds: 60,
    });
    expect(off).toBeUndefined();
    const check = createQueue(QUEUES.stripeEventSweep, {
      connection: producer,
      prefix: services.redisPrefix,
    });
    expect(await check.getJobScheduler(EVENT_SWEEP_SCHEDULER_ID)).toBeUndefined();
    await check.close();
  }, 90_000);
});
