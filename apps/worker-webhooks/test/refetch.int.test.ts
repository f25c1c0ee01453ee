import { customers, subscriptions, webhookEvents } from '@billing/db';
import {
  customerObject,
  type FakeStripe,
  startFakeStripe,
  stripeEvent,
  stripeId,
  subscriptionObject,
} from '@billing/stripe-fake';
import { createStripeRefetcher } from '@billing/sync';
import { useTestServices } from '@billing/testing';
import { UnrecoverableError } from 'bullmq';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ProcessDeps, processStripeEvent } from '../src/process-event.js';
import { type Harness, harness, jobPayload } from './support.js';

const services = await useTestServices('wh-refetch');
let h: Harness;
let fake: FakeStripe;

beforeAll(async () => {
  h = await harness(services);
  // No client-side retries: each injected fault reaches the worker as it would after them.
  fake = await startFakeStripe({ maxNetworkRetries: 0 });
});
afterAll(async () => {
  await fake.close();
  await h.close();
});
beforeEach(() => fake.reset());

const T0 = 1_760_000_000;
const withStripe = (extra: Partial<ProcessDeps> = {}): ProcessDeps => ({
  ...h.deps,
  refetcher: createStripeRefetcher(fake.stripe),
  ...extra,
});
const subscriptionRow = async (id: string) =>
  (await h.db.db.select().from(subscriptions).where(eq(subscriptions.id, id)))[0];
const eventRow = async (id: string) =>
  (await h.db.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, id)))[0];

describe('re-fetching from Stripe', () => {
  it('resolves a same-second tie by writing the subscription as Stripe has it now', async () => {
    const sub = subscriptionObject({ created: T0 });
    // What Stripe holds after both changes (and one more the events do not show).
    fake.state.subscriptions.set(sub.id, {
      ...structuredClone(sub),
      status: 'past_due',
      cancel_at_period_end: true,
    });
    const first = stripeEvent({
      type: 'customer.subscription.updated',
      object: { ...sub, cancel_at_period_end: true },
      created: T0 + 5,
    });
    const second = stripeEvent({
      type: 'customer.subscription.updated',
      object: { ...sub, cancel_at_period_end: false },
      created: T0 + 5,
    });

    await processStripeEvent(withStripe(), jobPayload(first));
    expect(fake.requestsTo('GET', '/v1/subscriptions')).toHaveLength(0);
    const outcome = await processStripeEvent(withStripe(), jobPayload(second));

    expect(outcome.result).toMatchObject({ outcome: 'applied', tie: 'refetched' });
    expect(fake.requestsTo('GET', `/v1/subscriptions/${sub.id}`)).toHaveLength(1);
    expect(await subscriptionRow(sub.id)).toMatchObject({
      status: 'past_due',
      cancelAtPeriodEnd: true,
      lastEventId: second.id,
    });
  });

  it('reads the object from Stripe instead of the payload for families in STRIPE_REFETCH_OBJECTS', async () => {
    const sub = subscriptionObject({ quantity: 1 });
    const current = structuredClone(sub);
    current.items.data[0]!.quantity = 5;
    fake.state.subscriptions.set(sub.id, current);
    const event = stripeEvent({ type: 'customer.subscription.updated', object: sub });
    const outcome = await processStripeEvent(
      withStripe({ refetchAlways: new Set(['subscription']) }),
      jobPayload(event),
    );
    expect(outcome.result?.refetched).toBe(true);
    expect((await subscriptionRow(sub.id))?.quantity).toBe(5);

    // Families not listed still trust the payload.
    const customer = customerObject({ email: 'payload@example.com' });
    await processStripeEvent(
      withStripe({ refetchAlways: new Set(['subscription']) }),
      jobPayload(stripeEvent({ type: 'customer.created', object: customer })),
    );
    expect(fake.requestsTo('GET', '/v1/customers')).toHaveLength(0);
  });

  it('re-reads a connected account object with that account', async () => {
    const account = stripeId('acct');
    // Stripe answers only for accounts connected to the platform.
    fake.connectAccount(account);
    const sub = subscriptionObject();
    fake.state.subscriptions.set(sub.id, structuredClone(sub));
    const event = stripeEvent({ type: 'customer.subscription.updated', object: sub, account });
    await processStripeEvent(
      withStripe({ refetchAlways: new Set(['subscription']) }),
      jobPayload(event),
    );
    const [request] = fake.requestsTo('GET', `/v1/subscriptions/${sub.id}`);
    expect(request?.headers['stripe-account']).toBe(account);
    expect((await subscriptionRow(sub.id))?.account).toBe(account);
  });

  it('uses the payload when Stripe no longer has the object (a deleted customer answers 404)', async () => {
    const customer = customerObject({ email: 'gone@example.com' });
    const event = stripeEvent({ type: 'customer.deleted', object: customer });
    await processStripeEvent(
      withStripe({ refetchAlways: new Set(['customer']) }),
      jobPayload(event),
    );
    expect(fake.requestsTo('GET', `/v1/customers/${customer.id}`)[0]?.status).toBe(404);
    const [stored] = await h.db.db.select().from(customers).where(eq(customers.id, customer.id));
    expect(stored).toMatchObject({ deleted: true, email: 'gone@example.com' });
  });

  it('treats a Stripe 429 on re-fetch as transient: recorded, retried, then applied once', async () => {
    const sub = subscriptionObject();
    fake.state.subscriptions.set(sub.id, structuredClone(sub));
    fake.failNext(1, 429, { path: '/v1/subscriptions' });
    const event = stripeEvent({ type: 'customer.subscription.updated', object: sub });
    const deps = withStripe({ refetchAlways: new Set(['subscription']) });

    const error = await processStripeEvent(deps, jobPayload(event)).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(UnrecoverableError);
    expect((error as { type?: string }).type).toBe('StripeRateLimitError');
    expect(await eventRow(event.id)).toMatchObject({ status: 'received', attempts: 1 });
    expect(await subscriptionRow(sub.id)).toBeUndefined();

    const retried = await processStripeEvent(deps, jobPayload(event));
    expect(retried.status).toBe('processed');
    expect(await eventRow(event.id)).toMatchObject({
      status: 'processed',
      attempts: 2,
      error: null,
    });
    expect(await subscriptionRow(sub.id)).toMatchObject({ lastEventId: event.id });
  });

  it('treats a Stripe 500 on re-fetch as transient too', async () => {
    const sub = subscriptionObject();
    fake.failNext(1, 500, { path: '/v1/subscriptions' });
    const event = stripeEvent({ type: 'customer.subscription.updated', object: sub });
    const error = await processStripeEvent(
      withStripe({ refetchAlways: new Set(['subscription']) }),
      jobPayload(event),
    ).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(UnrecoverableError);
    expect((await eventRow(event.id))?.error).toMatch(/StripeAPIError|unknown error/);
  });
});
