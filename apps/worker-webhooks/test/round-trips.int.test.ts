/**
 * Round trips per event. The worker is CPU-bound on its Postgres statements (each one a
 * system call and a wait on this kind of machine), so the statements an event costs are a
 * contract worth guarding: one claim that also marks the event, the customer lock, the
 * guarded upserts, BEGIN and COMMIT; no per-event SET, no user re-reads, and the user
 * back-fill only when a customer's link changes. The lock timeout is checked both ways it can
 * be configured.
 */
import { DEFAULT_PLANS_FILE, loadPlanList } from '@billing/config';
import { createDb, type DbHandle, seedPlans, webhookEvents } from '@billing/db';
import { moduleLogger } from '@billing/logger';
import { closeRedis, createRedis } from '@billing/redis';
import { useTestServices } from '@billing/testing';
import {
  customerObject,
  invoiceObject,
  priceObject,
  stripeEvent,
  subscriptionObject,
} from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProcessDeps, processStripeEvent } from '../src/process-event.js';
import { jobPayload } from './support.js';

const services = await useTestServices('wh-round-trips');
const redis = createRedis(services.redisUrl, { role: 'worker' });
const handles: DbHandle[] = [];

/** A pool whose every statement (BEGIN and COMMIT included) is recorded in `statements`. */
function countingDb(lockTimeoutMs?: number) {
  const handle = createDb({ url: services.databaseUrl, max: 2, lockTimeoutMs });
  handles.push(handle);
  const statements: string[] = [];
  // postgres.js reads `debug` at every query it sends.
  (handle.sql.options as { debug?: unknown }).debug = (_connection: number, query: string) => {
    statements.push(query.replace(/\s+/g, ' ').trim());
  };
  const deps: ProcessDeps = {
    db: handle.db,
    redis,
    redisPrefix: services.redisPrefix,
    logger: moduleLogger('round-trips-test'),
    lockTimeoutMs: lockTimeoutMs ?? 5_000,
  };
  /** Applies one event; returns what it sent. */
  const run = async (event: { id: string; type: string }) => {
    statements.length = 0;
    const outcome = await processStripeEvent(deps, jobPayload(event));
    return { outcome, sent: [...statements] };
  };
  return { handle, deps, run };
}

beforeAll(async () => {
  const { handle } = countingDb();
  await seedPlans(handle.db, loadPlanList(DEFAULT_PLANS_FILE));
});
afterAll(async () => {
  await closeRedis(redis);
  await Promise.all(handles.map((h) => h.close()));
});

const T0 = 1_760_000_000;
const backfills = (sent: string[]) => sent.filter((s) => /set user_id/.test(s));

describe('statements per event (pool with lock_timeout)', () => {
  it('customer, subscription and invoice events in steady state', async () => {
    const { run } = countingDb(5_000);
    const price = priceObject({ id: 'price_rt_pro', lookupKey: 'pro_monthly', unitAmount: 2900 });
    const customer = customerObject({ userId: 'user_rt', created: T0 });
    const sub = subscriptionObject({
      customer: customer.id,
      userId: 'user_rt',
      price,
      created: T0,
    });
    const invoice = invoiceObject({
      customer: customer.id,
      subscription: sub.id,
      price,
      created: T0,
    });

    // First sight of the customer with a user: its link is new, so the back-fill runs (once).
    const created = await run(
      stripeEvent({ type: 'customer.created', object: customer, created: T0 }),
    );
    expect(backfills(created.sent)).toHaveLength(1);
    await run(stripeEvent({ type: 'customer.subscription.created', object: sub, created: T0 + 1 }));
    await run(stripeEvent({ type: 'invoice.finalized', object: invoice, created: T0 + 2 }));

    // begin, claim+mark (+ the customer lock), customer upsert, commit.
    const customerUpdated = await run(
      stripeEvent({
        type: 'customer.updated',
        object: { ...customer, email: 'new@example.com' },
        created: T0 + 3,
      }),
    );
    expect(customerUpdated.outcome).toMatchObject({
      status: 'processed',
      invalidated: ['user_rt'],
    });
    expect(customerUpdated.sent).toHaveLength(4);
    expect(customerUpdated.sent.filter((s) => /set_config|lock_timeout/.test(s))).toEqual([]);

    // begin, claim+mark+lock, subscription upsert (plan and customer user resolved inside
    // it), items upsert with the delete of dropped items, commit.
    const subscriptionUpdated = await run(
      stripeEvent({
        type: 'customer.subscription.updated',
        object: { ...sub, status: 'past_due' },
        created: T0 + 4,
      }),
    );
    expect(subscriptionUpdated.outcome).toMatchObject({
      status: 'processed',
      invalidated: ['user_rt'],
    });
    expect(subscriptionUpdated.sent).toHaveLength(5);
    expect(backfills(subscriptionUpdated.sent)).toEqual([]);

    const paid = stripeEvent({
      type: 'invoice.paid',
      object: { ...invoice, status: 'paid' },
      created: T0 + 5,
    });
    const invoicePaid = await run(paid);
    expect(invoicePaid.outcome).toMatchObject({ status: 'processed', invalidated: ['user_rt'] });
    expect(invoicePaid.sent).toHaveLength(4);

    // No separate lock statement anywhere: the claim took it.
    for (const run of [customerUpdated, subscriptionUpdated, invoicePaid]) {
      expect(run.sent.filter((statement) => /^select pg_advisory/.test(statement))).toEqual([]);
    }

    // A duplicate: begin, the claim (which finds the event done), commit.
    const again = await run(paid);
    expect(again.outcome.status).toBe('duplicate');
    expect(again.sent).toHaveLength(3);
  });
});

describe('lock_timeout', () => {
  /** Holds the customer's lock in another session while the event is applied. */
  async function underHeldCustomerLock(db: ReturnType<typeof countingDb>) {
    const customer = customerObject({ userId: 'user_lt' });
    const event = stripeEvent({ type: 'customer.updated', object: customer });
    const holder = createDb({ url: services.databaseUrl, max: 1 });
    handles.push(holder);
    const key = `billing:customer:${customer.id}`;
    await holder.sql`select pg_advisory_lock(hashtextextended(${key}, 0))`;
    try {
      const error = await processStripeEvent(db.deps, jobPayload(event)).then(
        () => undefined,
        (e: unknown) => e as { cause?: { code?: string } },
      );
      const [row] = await db.handle.db
        .select()
        .from(webhookEvents)
        .where(eq(webhookEvents.eventId, event.id));
      return { error, row };
    } finally {
      await holder.sql`select pg_advisory_unlock(hashtextextended(${key}, 0))`;
    }
  }

  it('comes from the pool when it carries the same value: no statement spent on it', async () => {
    const db = countingDb(200);
    const { error, row } = await underHeldCustomerLock(db);
    expect(error?.cause?.code).toBe('55P03'); // lock_not_available
    // Transient: recorded on the row (nothing applied) for BullMQ to retry.
    expect(row).toMatchObject({ status: 'received', attempts: 1 });
    expect(row?.error).toMatch(/55P03|lock timeout/);
  });

  it('is set per transaction on a pool without it', async () => {
    const db = countingDb();
    db.deps.lockTimeoutMs = 200;
    const { sent } = await db.run(
      stripeEvent({ type: 'customer.created', object: customerObject({ userId: 'user_lt0' }) }),
    );
    expect(sent.filter((s) => /set_config\('lock_timeout'/.test(s))).toHaveLength(1);
    const { error, row } = await underHeldCustomerLock(db);
    expect(error?.cause?.code).toBe('55P03');
    expect(row).toMatchObject({ status: 'received', attempts: 1 });
  });
});
