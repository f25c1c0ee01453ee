import { loadPlanList, plansEnv } from '@billing/config';
import { createDb, seedPlans } from '@billing/db';
import {
  checkoutSessionObject,
  customerObject,
  invoiceObject,
  nowSeconds,
  priceObject,
  signedDelivery,
  stripeEvent,
  subscriptionObject,
} from '@billing/stripe-fake';
import { type AppProcess, eventually, freePort, startApp, useTestServices } from '@billing/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The webhook pipeline's guarantees, end to end: real signed deliveries to the real ingress
// process, applied by the real webhook worker process, read back from Postgres, so each
// invariant is shown by the processes that ship rather than by their parts.
const OLD_SECRET = 'whsec_e2e_old_0123456789';
const NEW_SECRET = 'whsec_e2e_new_9876543210';
const RETIRED_SECRET = 'whsec_e2e_retired_000000';

const services = await useTestServices('e2e');
const handle = createDb({ url: services.databaseUrl, max: 2 });
const sql = handle.sql;
let ingress: AppProcess;
let worker: AppProcess;
let ingressUrl: string;

beforeAll(async () => {
  await seedPlans(handle.db, loadPlanList(plansEnv({}).PLANS_FILE));
  const [ingressPort, workerPort] = await Promise.all([freePort(), freePort()]);
  const env = {
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    REDIS_PREFIX: services.redisPrefix,
    STRIPE_WEBHOOK_SECRETS: `${OLD_SECRET},${NEW_SECRET}`,
    INGRESS_PORT: String(ingressPort),
    INGRESS_METRICS_PORT: '0',
    WORKER_WEBHOOKS_PORT: String(workerPort),
    WEBHOOK_CONCURRENCY: '4',
  };
  [ingress, worker] = await Promise.all([
    startApp({ app: 'ingress', env, port: ingressPort }),
    startApp({ app: 'worker-webhooks', env, port: workerPort }),
  ]);
  ingressUrl = `http://127.0.0.1:${ingressPort}/webhooks/stripe`;
}, 60_000);

afterAll(async () => {
  await Promise.all([ingress?.stop(), worker?.stop()]);
  await handle.close();
});

async function deliver(event: unknown, secret = NEW_SECRET): Promise<Response> {
  return fetch(ingressUrl, { method: 'POST', ...signedDelivery(event, secret) });
}

const eventRow = (eventId: string) =>
  eventually(
    async () => {
      const [row] =
        await sql`select status, attempts from webhook_events where event_id = ${eventId}`;
      return row && row.status !== 'received' ? row : undefined;
    },
    { what: `event ${eventId} applied` },
  );

describe('webhook pipeline through the real ingress and worker', () => {
  it('applies a checkout journey: customer linked to the user, live subscription on the plan, paid invoice', async () => {
    const userId = 'user_e2e_journey';
    const customer = customerObject({ email: 'journey@example.com' });
    const price = priceObject({ lookupKey: 'pro_monthly', unitAmount: 2900 });
    const subscription = subscriptionObject({ customer: customer.id, price, status: 'active' });
    const session = checkoutSessionObject({
      customer: customer.id,
      subscription: subscription.id,
      clientReferenceId: userId,
      mode: 'subscription',
      status: 'complete',
      paymentStatus: 'paid',
    });
    const invoice = invoiceObject({
      customer: customer.id,
      subscription: subscription.id,
      status: 'paid',
      amountDue: 2900,
      amountPaid: 2900,
      price,
    });
    const t = nowSeconds();
    const events = [
      stripeEvent({ type: 'customer.created', object: customer, created: t }),
      stripeEvent({ type: 'checkout.session.completed', object: session, created: t + 1 }),
      stripeEvent({ type: 'customer.subscription.created', object: subscription, created: t + 1 }),
      stripeEvent({ type: 'invoice.paid', object: invoice, created: t + 2 }),
    ];
    for (const event of events) {
      const response = await deliver(event);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ received: true });
    }
    for (const event of events) expect((await eventRow(event.id)).status).toBe('processed');

    const [customerRow] = await sql`select user_id, email from customers where id = ${customer.id}`;
    expect(customerRow).toEqual({ user_id: userId, email: 'journey@example.com' });
    const [subscriptionRow] = await sql`
      select user_id, status, plan_id, price_id, current_period_end from subscriptions where id = ${subscription.id}`;
    expect(subscriptionRow).toMatchObject({
      user_id: userId,
      status: 'active',
      plan_id: 'pro',
      price_id: price.id,
    });
    expect(new Date(subscriptionRow?.current_period_end).getTime()).toBe(
      (subscription.items.data[0]!.current_period_end as number) * 1000,
    );
    const [invoiceRow] =
      await sql`select status, amount_paid, currency from invoices where id = ${invoice.id}`;
    expect(invoiceRow).toEqual({ status: 'paid', amount_paid: '2900', currency: 'usd' });
  });

  it('applies an event delivered three times exactly once', async () => {
    const customer = customerObject({ userId: 'user_e2e_dup', name: 'Dup' });
    const event = stripeEvent({ type: 'customer.created', object: customer });
    const answers = await Promise.all([deliver(event), deliver(event), deliver(event)]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    const row = await eventRow(event.id);
    expect(row).toEqual({ status: 'processed', attempts: 1 });
    const [{ count }] =
      (await sql`select count(*)::int as count from webhook_events where event_id = ${event.id}`) as [
        { count: number },
      ];
    expect(count).toBe(1);
  });

  it('keeps the newer state when an older subscription update arrives after a newer one', async () => {
    const customer = customerObject({ userId: 'user_e2e_order' });
    const price = priceObject({ lookupKey: 'business_monthly' });
    const base = subscriptionObject({
      customer: customer.id,
      price,
      userId: 'user_e2e_order',
      status: 'active',
    });
    const t = nowSeconds();
    const created = stripeEvent({
      type: 'customer.subscription.created',
      object: base,
      created: t - 30,
    });
    const newer = stripeEvent({
      type: 'customer.subscription.updated',
      object: { ...base, status: 'past_due' },
      created: t - 10,
      previousAttributes: { status: 'active' },
    });
    const older = stripeEvent({
      type: 'customer.subscription.updated',
      object: { ...base, status: 'active', cancel_at_period_end: true },
      created: t - 20,
      previousAttributes: { cancel_at_period_end: false },
    });
    for (const event of [created, newer, older]) {
      expect((await deliver(event)).status).toBe(200);
      await eventRow(event.id);
    }
    const [row] =
      await sql`select status, cancel_at_period_end from subscriptions where id = ${base.id}`;
    expect(row).toEqual({ status: 'past_due', cancel_at_period_end: false });
  });

  it('reads subscription periods from an old-version payload (periods on the subscription)', async () => {
    const start = nowSeconds() - 86_400;
    const legacy = subscriptionObject({
      userId: 'user_e2e_legacy',
      apiShape: 'legacy',
      currentPeriodStart: start,
      currentPeriodEnd: start + 30 * 86_400,
    });
    const event = stripeEvent({
      type: 'customer.subscription.created',
      object: legacy,
      apiVersion: '2024-06-20',
    });
    expect((await deliver(event)).status).toBe(200);
    await eventRow(event.id);
    const [row] =
      await sql`select current_period_start, current_period_end from subscriptions where id = ${legacy.id}`;
    // (drizzle's postgres.js client hands timestamptz back as text)
    expect(new Date(row?.current_period_start).getTime()).toBe(start * 1000);
    expect(new Date(row?.current_period_end).getTime()).toBe((start + 30 * 86_400) * 1000);
  });

  it('accepts either secret during a rotation and rejects a retired one without applying it', async () => {
    const viaOld = stripeEvent({
      type: 'customer.created',
      object: customerObject({ userId: 'user_e2e_old' }),
    });
    const viaRetired = stripeEvent({
      type: 'customer.created',
      object: customerObject({ userId: 'user_e2e_x' }),
    });
    expect((await deliver(viaOld, OLD_SECRET)).status).toBe(200);
    const rejected = await deliver(viaRetired, RETIRED_SECRET);
    expect(rejected.status).toBe(400);
    expect(((await rejected.json()) as { error: { code: string } }).error.code).toBe(
      'invalid_signature',
    );
    await eventRow(viaOld.id);
    const rows = await sql`select 1 from webhook_events where event_id = ${viaRetired.id}`;
    expect(rows).toHaveLength(0);
  });

  it('records an unknown event type as ignored and acknowledges it', async () => {
    const event = stripeEvent({
      type: 'radar.early_fraud_warning.created',
      object: { id: 'issfr_1', object: 'radar.early_fraud_warning' },
    });
    expect((await deliver(event)).status).toBe(200);
    expect((await eventRow(event.id)).status).toBe('ignored');
  });

  it('shuts both processes down cleanly on SIGTERM', async () => {
    expect(await worker.stop()).toBe(0);
    expect(await ingress.stop()).toBe(0);
  });
});
