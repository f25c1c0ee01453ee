import { createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { useTestServices } from '@billing/testing';
import { type Job, type Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { OPS_TOKEN, SERVICE_TOKEN, startTestApi, type TestApi } from './support.js';

/**
 * The ops surfaces as an outsider meets them: one credential rule for /api/ops/* and
 * /ops/queues, and a queue dashboard that cannot re-run completed work or delete
 * acknowledged, unprocessed webhooks.
 */
const services = await useTestServices('api-ops-surfaces');
let t: TestApi;
let serviceKey: string;
let connection: ReturnType<typeof createRedis>;
let queue: Queue;
const jobs: Record<'completed' | 'failed' | 'waiting', Job> = {} as never;

beforeAll(async () => {
  t = await startTestApi(services);
  serviceKey = (await createApiKey(t.db, { scope: 'service', name: 'backend' })).key;
  connection = createRedis(services.redisUrl, { role: 'worker' });
  await waitReady(connection);
  queue = createQueue(QUEUES.stripeEvents, { connection, prefix: services.redisPrefix });
  // One completed and one failed job, through a real worker; then one left waiting.
  const worker = new Worker(
    QUEUES.stripeEvents,
    async (job) => {
      if (job.data.fail) throw new Error('permanent');
    },
    { connection, prefix: services.redisPrefix, autorun: true },
  );
  const done = await queue.add('stripe.event', { fail: false }, { jobId: 'evt_done', attempts: 1 });
  const failed = await queue.add(
    'stripe.event',
    { fail: true },
    { jobId: 'evt_failed', attempts: 1 },
  );
  for (let i = 0; i < 200; i++) {
    const [a, b] = await Promise.all([done.getState(), failed.getState()]);
    if (a === 'completed' && b === 'failed') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await worker.close();
  jobs.completed = done;
  jobs.failed = failed;
  jobs.waiting = await queue.add('stripe.event', { fail: false }, { jobId: 'evt_waiting' });
}, 60_000);

afterAll(async () => {
  await queue?.close();
  if (connection) await closeRedis(connection);
  await t?.close();
});

const state = (job: Job) => queue.getJob(job.id!).then((found) => found?.getState());
const dashboard = (path: string, method = 'PUT') =>
  t.call(`/ops/queues/api/queues/${QUEUES.stripeEvents}${path}`, { method, token: OPS_TOKEN });

describe('one credential rule for every ops surface', () => {
  it('a service-scope API key: 403 on /api/ops (reads and replay), 401 on /ops/queues; nothing replayed', async () => {
    const before = await queue.getJobCounts();
    expect((await t.call('/api/ops/performance', { token: serviceKey })).status).toBe(403);
    const replay = await t.call('/api/ops/dead-letters/replay', {
      method: 'POST',
      token: serviceKey,
      json: { all: true },
    });
    expect(replay.status).toBe(403);
    expect((await t.call('/ops/queues', { token: serviceKey })).status).toBe(401);
    expect(await queue.getJobCounts()).toEqual(before);
  });

  it('the service token and the ops token open both (control)', async () => {
    for (const token of [SERVICE_TOKEN, OPS_TOKEN]) {
      expect((await t.call('/api/ops/performance', { token })).status).toBe(200);
      expect((await t.call('/ops/queues', { token })).status).toBe(200);
    }
  });
});

describe('queue dashboard: retry only failed jobs, clean only completed or failed ones', () => {
  it('retrying a COMPLETED job: 409, it stays completed and does not run again', async () => {
    expect(await state(jobs.completed)).toBe('completed');
    const response = await dashboard(`/${jobs.completed.id}/retry`);
    expect(response.status).toBe(409);
    expect(await state(jobs.completed)).toBe('completed');
  });

  it.each(['wait', 'waiting', 'delayed', 'active', 'paused', 'prioritized'])(
    'cleaning status %s: 405, the waiting webhook is still there',
    async (status) => {
      const response = await dashboard(`/clean/${status}`);
      expect(response.status).toBe(405);
      expect(await state(jobs.waiting)).toBe('waiting');
    },
  );

  it('removing one WAITING job: 409, it is still waiting', async () => {
    const response = await dashboard(`/${jobs.waiting.id}/clean`);
    expect(response.status).toBe(409);
    expect(await state(jobs.waiting)).toBe('waiting');
  });

  it('retrying all completed jobs, emptying or pausing the queue: 405', async () => {
    expect((await dashboard('/retry/completed')).status).toBe(405);
    expect((await dashboard('/empty')).status).toBe(405);
    expect((await dashboard('/pause')).status).toBe(405);
    expect(await state(jobs.completed)).toBe('completed');
    expect(await state(jobs.waiting)).toBe('waiting');
  });

  it('the board tells the UI to hide retry on completed jobs', async () => {
    const response = await t.call('/ops/queues/api/queues', { token: OPS_TOKEN });
    const body = (await response.json()) as {
      queues: { name: string; allowCompletedRetries: boolean; allowRetries: boolean }[];
    };
    const events = body.queues.find((q) => q.name === QUEUES.stripeEvents);
    expect(events).toMatchObject({ allowRetries: true, allowCompletedRetries: false });
  });

  it('retrying the FAILED job is allowed (control): it leaves the failed set', async () => {
    const response = await dashboard(`/${jobs.failed.id}/retry`);
    expect(response.status).toBe(204);
    expect(await state(jobs.failed)).not.toBe('failed');
  });
});
