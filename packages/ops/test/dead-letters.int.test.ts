import { createDb, customers, webhookEvents } from '@billing/db';
import { addJob, createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { customerObject, stripeEvent } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import { type Queue, UnrecoverableError, Worker } from 'bullmq';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDeadLetters, replayDeadLetters } from '../src/dead-letters.js';
import { eventually, type Spawned, spawnTsx } from './support.js';

const services = await useTestServices('ops-dlq');
const handle = createDb({ url: services.databaseUrl, max: 4 });
const redis = createRedis(services.redisUrl, { role: 'producer' });
/** Connection of the stand-in failing workers. */
const workerRedis = createRedis(services.redisUrl, { role: 'worker' });
let queue: Queue;
let realWorker: Spawned | undefined;
const deps = () => ({ db: handle.db, queue });

beforeAll(async () => {
  await waitReady(redis);
  queue = createQueue(QUEUES.stripeEvents, { connection: redis, prefix: services.redisPrefix });
});
afterAll(async () => {
  await realWorker?.stop();
  await queue.close();
  await closeRedis(redis);
  await closeRedis(workerRedis);
  await handle.close();
});

/** A customer.created event, as Stripe would deliver it. */
function customerCreated(email: string, created = Math.floor(Date.now() / 1000)) {
  const customer = customerObject({ email, userId: `user_${email.split('@')[0]}` });
  return stripeEvent({ type: 'customer.created', object: customer, created });
}

/**
 * Puts an event where a handler bug would leave it: a `stripe.event` job in the failed set
 * (thrown as UnrecoverableError by a stand-in worker) and its webhook_events row `failed`
 * with the reason, as the real worker records a permanent failure.
 */
async function deadLetter(event: ReturnType<typeof customerCreated>, reason: string) {
  const raw = JSON.stringify(event);
  await addJob(
    queue,
    'stripe.event',
    { eventId: event.id, type: event.type, raw, receivedAt: Date.now(), secretIndex: 0 },
    { jobId: event.id },
  );
  const failing = new Worker(
    QUEUES.stripeEvents,
    async () => {
      throw new UnrecoverableError(reason);
    },
    { connection: workerRedis, prefix: services.redisPrefix },
  );
  await eventually(
    async () => ((await queue.getJob(event.id))?.failedReason ? true : undefined),
    60_000,
    'failed job',
  );
  await failing.close();
  await handle.db.insert(webhookEvents).values({
    eventId: event.id,
    type: event.type,
    created: new Date(event.created * 1000),
    objectId: (event.data.object as { id: string }).id,
    payload: event,
    status: 'failed',
    attempts: 1,
    error: reason,
  });
}

const rowOf = async (eventId: string) =>
  (await handle.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, eventId)))[0];

describe('dead letters', () => {
  it('lists failed events from the database and the failed set, with their reason, filtered by type and time', async () => {
    const old = customerCreated(
      'old@example.com',
      Math.floor(Date.parse('2030-01-01T00:00:00Z') / 1000),
    );
    await deadLetter(old, 'PermanentSyncError: handler bug A');
    // Only in the failed set: it never got a row.
    const queueOnly = stripeEvent({
      type: 'invoice.paid',
      object: { id: 'in_qonly', object: 'invoice' },
      created: Math.floor(Date.parse('2030-01-02T00:00:00Z') / 1000),
    });
    await addJob(
      queue,
      'stripe.event',
      {
        eventId: queueOnly.id,
        type: 'invoice.paid',
        raw: JSON.stringify(queueOnly),
        receivedAt: Date.now(),
        secretIndex: 0,
      },
      { jobId: queueOnly.id },
    );
    const failing = new Worker(
      QUEUES.stripeEvents,
      async () => {
        throw new UnrecoverableError('no handler yet');
      },
      { connection: workerRedis, prefix: services.redisPrefix },
    );
    await eventually(
      async () => ((await queue.getJob(queueOnly.id))?.failedReason ? true : undefined),
      60_000,
    );
    await failing.close();

    const all = await listDeadLetters(deps(), {
      from: new Date('2030-01-01T00:00:00Z'),
      to: new Date('2030-01-31T00:00:00Z'),
    });
    expect(all.deadLetters.map((d) => d.eventId)).toEqual([queueOnly.id, old.id]);
    expect(all.deadLetters[1]).toMatchObject({
      type: 'customer.created',
      reason: 'PermanentSyncError: handler bug A',
      sources: ['database', 'queue'],
      jobId: old.id,
      created: '2030-01-01T00:00:00.000Z',
    });
    expect(all.deadLetters[0]).toMatchObject({ reason: 'no handler yet', sources: ['queue'] });

    const invoicesOnly = await listDeadLetters(deps(), { type: 'invoice.paid' });
    expect(invoicesOnly.deadLetters.map((d) => d.eventId)).toEqual([queueOnly.id]);
    const before = await listDeadLetters(deps(), { to: new Date('2029-12-31T00:00:00Z') });
    expect(before.deadLetters.map((d) => d.eventId)).not.toContain(old.id);

    // Filtered replay: only the invoice event is enqueued; the customer event stays dead.
    const replay = await replayDeadLetters(deps(), { type: 'invoice.paid' });
    expect(replay.outcomes).toEqual([
      {
        eventId: queueOnly.id,
        result: 'enqueued',
        jobId: expect.stringMatching(new RegExp(`^replay:${queueOnly.id}:\\d+$`)),
      },
    ]);
    expect(await queue.getJob(queueOnly.id)).toBeUndefined();
    const replayed = await queue.getJob(replay.outcomes[0]!.jobId!);
    expect(replayed?.data).toMatchObject({ eventId: queueOnly.id, raw: JSON.stringify(queueOnly) });
    await replayed?.remove();
    expect((await rowOf(old.id))?.status).toBe('failed');
  });

  it('replays a failed event through the real worker, which applies it once', {
    timeout: 90_000,
  }, async () => {
    const event = customerCreated('replayed@example.com');
    await deadLetter(event, 'PermanentSyncError: handler bug B');
    const customerId = (event.data.object as { id: string }).id;

    const report = await replayDeadLetters(deps(), { eventId: event.id });
    expect(report).toMatchObject({ replayed: 1, skipped: 0 });
    const jobId = report.outcomes[0]!.jobId!;
    expect(jobId).toMatch(new RegExp(`^replay:${event.id}:\\d+$`));
    // The row is reset for the worker, the superseded failed job is gone.
    expect(await rowOf(event.id)).toMatchObject({ status: 'received', error: null });
    expect(await queue.getJob(event.id)).toBeUndefined();

    realWorker = spawnTsx('apps/worker-webhooks/src/main.ts', {
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      REDIS_PREFIX: services.redisPrefix,
      WORKER_WEBHOOKS_PORT: '0',
      WEBHOOK_CONCURRENCY: '2',
    });
    const processed = await eventually(
      async () => {
        const row = await rowOf(event.id);
        return row?.status === 'processed' ? row : undefined;
      },
      60_000,
      `the worker to process the replay (worker output: ${realWorker.output()})`,
    );
    expect(processed).toMatchObject({ attempts: 2, error: null });
    const rows = await handle.db.select().from(customers).where(eq(customers.id, customerId));
    expect(rows).toEqual([
      expect.objectContaining({ email: 'replayed@example.com', lastEventId: event.id }),
    ]);
    expect(await (await queue.getJob(jobId))?.getState()).toBe('completed');
    expect((await listDeadLetters(deps())).deadLetters.map((d) => d.eventId)).not.toContain(
      event.id,
    );

    // Replaying it again changes nothing: it is no longer a dead letter.
    const again = await replayDeadLetters(deps(), { eventId: event.id });
    expect(again).toMatchObject({
      replayed: 0,
      skipped: 1,
      outcomes: [{ result: 'skipped', reason: 'already processed' }],
    });

    // A late duplicate (a replay racing a redelivery) is a no-op in the worker's transaction.
    const duplicate = await addJob(
      queue,
      'stripe.event',
      {
        eventId: event.id,
        type: event.type,
        raw: JSON.stringify(event),
        receivedAt: Date.now(),
        secretIndex: 0,
      },
      { jobId: `replay:${event.id}:1` },
    );
    await eventually(
      async () => ((await duplicate.getState()) === 'completed' ? true : undefined),
      30_000,
      'duplicate',
    );
    expect(await rowOf(event.id)).toMatchObject({ status: 'processed', attempts: 2 });
    expect(
      await handle.db.select().from(customers).where(eq(customers.id, customerId)),
    ).toHaveLength(1);
    await realWorker.stop();
    realWorker = undefined;
  });

  it('replays everything with all: true and answers not-found for an unknown event', async () => {
    const a = customerCreated('all-a@example.com');
    const b = customerCreated('all-b@example.com');
    await deadLetter(a, 'bug');
    await deadLetter(b, 'bug');
    const report = await replayDeadLetters(deps(), { all: true });
    expect(report.outcomes.map((o) => o.eventId).sort()).toEqual(
      expect.arrayContaining([a.id, b.id].sort()),
    );
    expect(report.outcomes.every((o) => o.result === 'enqueued')).toBe(true);
    await expect(replayDeadLetters(deps(), { eventId: 'evt_does_not_exist' })).rejects.toThrow(
      /no dead letter/,
    );
  });
});
