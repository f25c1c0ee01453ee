import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_PLANS_FILE, loadPlanList } from '@billing/config';
import { rootLogger } from '@billing/logger';
import { createStripeClient, Stripe } from '@billing/stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from './receiver.js';
import { type RunningSimulator, startSimulator } from './simulator.js';

const SECRET = 'whsec_simulator_test_secret';
const catalogue = loadPlanList(DEFAULT_PLANS_FILE);
const logger = rootLogger();
const verifier = new Stripe('sk_test_x');

let receiver: Receiver;
let sim: RunningSimulator;
let stripe: Stripe;

beforeAll(async () => {
  receiver = await startReceiver();
  sim = await startSimulator({
    webhookUrl: receiver.url,
    webhookSecret: SECRET,
    catalogue,
    logger,
  });
  stripe = createStripeClient({ secretKey: 'sk_test_simulator', apiBase: sim.url });
  await sim.idle(5_000);
});
afterAll(async () => {
  await sim.close();
  await receiver.close();
});

const post = async (pathname: string, body?: unknown) => {
  const response = await fetch(`${sim.url}${pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, asserted on with toMatchObject
  return { status: response.status, body: (await response.json()) as Record<string, any> };
};

/** Deliveries received since `from`, by type. */
const deliveredSince = (from: number) =>
  receiver.deliveries.slice(from).map((delivery) => delivery.type);

describe('stripe simulator', () => {
  it('creates the plan catalogue prices with their lookup keys and realistic amounts, and sends their events', async () => {
    const prices = await stripe.prices.list({
      lookup_keys: ['pro_monthly', 'pro_yearly', 'business_monthly', 'business_yearly'],
      expand: ['data.product'],
    });
    const byKey = Object.fromEntries(prices.data.map((price) => [price.lookup_key, price]));
    expect(byKey.pro_monthly).toMatchObject({
      unit_amount: 2900,
      recurring: { interval: 'month' },
    });
    expect(byKey.pro_yearly).toMatchObject({ unit_amount: 29000, recurring: { interval: 'year' } });
    expect(byKey.business_monthly).toMatchObject({ unit_amount: 9900 });
    expect(byKey.business_yearly).toMatchObject({ unit_amount: 99000 });
    expect(byKey.business_yearly?.product).toMatchObject({ name: 'Business' });
    expect(deliveredSince(0).filter((type) => type === 'price.created')).toHaveLength(4);
    expect(deliveredSince(0).filter((type) => type === 'product.created')).toHaveLength(2);
  });

  it('serves a hosted checkout page whose Pay button completes the session, redirects back and sends the events in order, signed', async () => {
    const customer = await stripe.customers.create({ metadata: { user_id: 'page-user' } });
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: customer.id,
      client_reference_id: 'page-user',
      line_items: [
        {
          price: (await stripe.prices.list({ lookup_keys: ['pro_yearly'] })).data[0]!.id,
          quantity: 1,
        },
      ],
      success_url: 'http://app.test/billing?session={CHECKOUT_SESSION_ID}',
      cancel_url: 'http://app.test/billing',
      subscription_data: { metadata: { user_id: 'page-user' } },
    });
    expect(session.url).toBe(`${sim.url}/checkout/${session.id}`);

    const page = await fetch(session.url!);
    const html = await page.text();
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(html).toContain('Subscribe to Pro');
    expect(html).toContain('$290.00');
    expect(html).toContain(`action="/checkout/${session.id}/pay"`);

    await sim.idle(5_000);
    const from = receiver.deliveries.length;
    const paid = await fetch(`${sim.url}/checkout/${session.id}/pay`, {
      method: 'POST',
      redirect: 'manual',
    });
    expect(paid.status).toBe(303);
    expect(paid.headers.get('location')).toBe(`http://app.test/billing?session=${session.id}`);
    expect(await sim.idle(5_000)).toBe(true);
    expect(deliveredSince(from)).toEqual([
      'customer.subscription.created',
      'invoice.created',
      'invoice.finalized',
      'invoice.paid',
      'invoice.payment_succeeded',
      'customer.subscription.updated',
      'checkout.session.completed',
    ]);
    for (const delivery of receiver.deliveries.slice(from)) {
      expect(verifier.webhooks.constructEvent(delivery.body, delivery.signature, SECRET).id).toBe(
        delivery.id,
      );
    }
    // Paying again (a reload of the form POST) lands on the success page and changes nothing.
    const again = await fetch(`${sim.url}/checkout/${session.id}/pay`, {
      method: 'POST',
      redirect: 'manual',
    });
    expect(again.status).toBe(303);
    expect(await sim.idle(5_000)).toBe(true);
    expect(receiver.deliveries.length).toBe(from + 7);
  });

  it('plays a declined renewal and its recovery through /_simulator, answering with the events it caused', async () => {
    const created = await post('/_simulator/subscriptions', {
      userId: 'dunning-user',
      price: 'business_monthly',
    });
    expect(created.status).toBe(200);
    expect(created.body.subscription).toMatchObject({
      status: 'active',
      metadata: { user_id: 'dunning-user' },
    });
    expect(created.body.customer.metadata.user_id).toBe('dunning-user');
    const id = created.body.subscription.id as string;

    const failed = await post(`/_simulator/subscriptions/${id}/renew`, { paymentFails: true });
    expect(failed.body.subscription.status).toBe('past_due');
    expect(failed.body.invoice).toMatchObject({ status: 'open', amount_due: 9900 });
    expect(failed.body.events.map((event: { type: string }) => event.type)).toEqual([
      'customer.subscription.updated',
      'invoice.created',
      'invoice.finalized',
      'invoice.payment_failed',
      'customer.subscription.updated',
    ]);

    const recovered = await post(`/_simulator/subscriptions/${id}/recover`);
    expect(recovered.body.invoice.status).toBe('paid');
    expect((await stripe.subscriptions.retrieve(id)).status).toBe('active');

    const nothingOpen = await post(`/_simulator/subscriptions/${id}/recover`);
    expect(nothingOpen.status).toBe(400);
    expect(nothingOpen.body.error.message).toMatch(/no open invoice/);
  });

  it('serves the customer portal of a billing portal session: updating the card pays the open invoice and returns to the app', async () => {
    const created = await post('/_simulator/subscriptions', {
      userId: 'portal-user',
      price: 'pro_monthly',
    });
    const id = created.body.subscription.id as string;
    const customer = created.body.customer.id as string;
    const failed = await post(`/_simulator/subscriptions/${id}/renew`, { paymentFails: true });
    expect(failed.body.subscription.status).toBe('past_due');
    const openInvoice = failed.body.invoice.id as string;

    const session = await stripe.billingPortal.sessions.create({
      customer,
      return_url: 'http://127.0.0.1:9/billing?user=portal-user',
    });
    expect(session.url).toBe(`${sim.url}/billing-portal/${session.id}`);
    const html = await (await fetch(session.url)).text();
    expect(html).toContain('data-testid="portal-open-invoice"');
    expect(html).toContain('$29.00 due');
    expect(html).toContain('data-status="past_due"');

    const from = receiver.deliveries.length;
    // A browser's form POST carries its Origin; the simulator's same-origin gate requires it.
    const update = await fetch(`${sim.url}/billing-portal/${session.id}/payment-method`, {
      method: 'POST',
      redirect: 'manual',
      headers: { Origin: sim.url },
    });
    expect(update.status).toBe(303);
    expect(update.headers.get('location')).toBe('http://127.0.0.1:9/billing?user=portal-user');
    expect((await stripe.invoices.retrieve(openInvoice)).status).toBe('paid');
    expect((await stripe.subscriptions.retrieve(id)).status).toBe('active');
    expect(await sim.idle(10_000)).toBe(true);
    expect(deliveredSince(from)).toContain('invoice.paid');
    expect(deliveredSince(from)).toContain('customer.subscription.updated');

    const missing = await fetch(`${sim.url}/billing-portal/bps_missing`);
    expect(missing.status).toBe(404);
  });

  it('starts the next period on renewal, in the API and on the subscription item', async () => {
    const created = await post('/_simulator/subscriptions', {
      userId: 'renewing-user',
      price: 'pro_monthly',
    });
    const id = created.body.subscription.id as string;
    const before = (await stripe.subscriptions.retrieve(id)).items.data[0]!;
    const renewed = await post(`/_simulator/subscriptions/${id}/renew`);
    expect(renewed.status).toBe(200);
    const after = (await stripe.subscriptions.retrieve(id)).items.data[0]!;
    // The new period begins where the old one ended, a calendar month later, and is billed.
    expect(after.current_period_start).toBe(before.current_period_end);
    expect(after.current_period_end).toBeGreaterThan(before.current_period_end);
    const next = new Date(before.current_period_end * 1000);
    expect(new Date(after.current_period_end * 1000).getUTCMonth()).toBe(
      (next.getUTCMonth() + 1) % 12,
    );
    expect(renewed.body.invoice).toMatchObject({
      status: 'paid',
      billing_reason: 'subscription_cycle',
    });
    expect(renewed.body.invoice.lines.data[0].period).toEqual({
      start: after.current_period_start,
      end: after.current_period_end,
    });
  });

  it('renews many subscriptions at once, some with declined cards', async () => {
    const ids: string[] = [];
    for (const userId of ['storm-1', 'storm-2', 'storm-3']) {
      ids.push(
        (await post('/_simulator/subscriptions', { userId, price: 'pro_monthly' })).body
          .subscription.id,
      );
    }
    const storm = await post('/_simulator/renewals', { subscriptions: ids, failing: [ids[2]] });
    expect(storm.body.events).toBe(15);
    expect(storm.body.renewals.map((renewal: { status: string }) => renewal.status)).toEqual([
      'active',
      'active',
      'past_due',
    ]);
  });

  it('rejects a malformed helper request with a 400 naming the field, changing nothing', async () => {
    const before = sim.state.subscriptions.size;
    const unknownField = await post('/_simulator/subscriptions', {
      userId: 'x',
      price: 'pro_monthly',
      extra: 1,
    });
    expect(unknownField.status).toBe(400);
    const noPrice = await post('/_simulator/subscriptions', { userId: 'x', price: 'gold_monthly' });
    expect(noPrice.status).toBe(404);
    expect(noPrice.body.error).toMatchObject({ code: 'resource_missing', param: 'price' });
    const noSubscription = await post('/_simulator/subscriptions/sub_missing/renew', {});
    expect(noSubscription.status).toBe(404);
    expect(sim.state.subscriptions.size).toBe(before);
  });

  it('refuses cross-site and foreign-Host requests to its own routes (403), changing nothing', async () => {
    const raw = (
      method: string,
      pathname: string,
      headers: Record<string, string>,
      body?: string,
    ): Promise<{ status: number; text: string }> =>
      new Promise((resolve, reject) => {
        const request = http.request(`${sim.url}${pathname}`, { method, headers }, (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => {
            text += chunk.toString();
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
        });
        request.on('error', reject);
        request.end(body);
      });
    const own = new URL(sim.url).host;
    const created = await post('/_simulator/subscriptions', {
      userId: 'gate-user',
      price: 'pro_monthly',
    });
    const id = created.body.subscription.id as string;
    const renewBody = JSON.stringify({});
    const before = JSON.stringify(sim.state.getSubscription(id));
    const forged: Array<Record<string, string>> = [
      // A page on another site posting a simple (no-preflight) request.
      { 'content-type': 'text/plain', origin: 'http://evil.example', host: own },
      { 'content-type': 'application/json', origin: 'http://evil.example', host: own },
      { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site', host: own },
      // DNS rebinding: the browser names the attacker's host.
      { 'content-type': 'application/json', host: 'attacker.example' },
      // A same-origin page must still send JSON.
      { 'content-type': 'text/plain', origin: `http://${own}`, host: own },
    ];
    for (const headers of forged) {
      const answer = await raw('POST', `/_simulator/subscriptions/${id}/renew`, headers, renewBody);
      expect(answer.status, JSON.stringify(headers)).toBe(403);
    }
    expect(JSON.stringify(sim.state.getSubscription(id))).toBe(before);
    // Reads leak data: refused for a foreign Host or Origin too.
    expect((await raw('GET', '/_simulator/status', { host: 'attacker.example' })).status).toBe(403);
    expect(
      (await raw('GET', '/_simulator/status', { host: own, origin: 'http://evil.example' })).status,
    ).toBe(403);
    // The hosted page and its Pay form: foreign Host and cross-site Origin refused.
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: created.body.customer.id,
      line_items: [
        { price: (await stripe.prices.list({ lookup_keys: ['pro_monthly'] })).data[0]!.id },
      ],
      success_url: 'http://127.0.0.1:1/done',
    });
    expect((await raw('GET', `/checkout/${session.id}`, { host: 'attacker.example' })).status).toBe(
      403,
    );
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect(
      (
        await raw('POST', `/checkout/${session.id}/pay`, {
          ...form,
          host: own,
          origin: 'http://evil.example',
        })
      ).status,
    ).toBe(403);
    expect(sim.state.checkoutSessions.get(session.id)?.status).toBe('open');
    // The allowed ones: the page's own origin, and the compose service name.
    expect(
      (
        await raw('POST', `/checkout/${session.id}/pay`, {
          ...form,
          host: own,
          origin: `http://${own}`,
        })
      ).status,
    ).toBe(303);
    expect(
      (await raw('GET', '/_simulator/status', { host: 'stripe-simulator:12111' })).status,
    ).toBe(200);
  });

  it('reports its status and recent events', async () => {
    const status = (await (await fetch(`${sim.url}/_simulator/status`)).json()) as {
      webhooks: Record<string, unknown>;
      counts: Record<string, number>;
    };
    expect(status.webhooks).toMatchObject({ url: receiver.url, failed: 0 });
    expect(status.counts.subscriptions).toBeGreaterThan(0);
    const recent = (await (await fetch(`${sim.url}/_simulator/events?limit=3`)).json()) as {
      events: unknown[];
    };
    expect(recent.events).toHaveLength(3);
  });
});

describe('stripe simulator state file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'simulator-state-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps the account across a restart and does not recreate the catalogue', async () => {
    const stateFile = path.join(dir, 'state.json');
    const sink = await startReceiver();
    try {
      const first = await startSimulator({
        webhookUrl: sink.url,
        webhookSecret: SECRET,
        catalogue,
        logger,
        stateFile,
      });
      const created = await fetch(`${first.url}/_simulator/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'restart-user', price: 'pro_monthly' }),
      }).then((response) => response.json() as Promise<{ subscription: { id: string } }>);
      await first.close();
      expect(fs.existsSync(stateFile)).toBe(true);

      const deliveredBefore = sink.deliveries.length;
      const second = await startSimulator({
        webhookUrl: sink.url,
        webhookSecret: SECRET,
        catalogue,
        logger,
        stateFile,
      });
      try {
        const client = createStripeClient({ secretKey: 'sk_test_simulator', apiBase: second.url });
        expect(
          (await client.subscriptions.retrieve(created.subscription.id)).metadata.user_id,
        ).toBe('restart-user');
        expect((await client.prices.list({ limit: 100 })).data).toHaveLength(4);
        expect(await second.idle(2_000)).toBe(true);
        expect(sink.deliveries.length).toBe(deliveredBefore);
      } finally {
        await second.close();
      }
    } finally {
      await sink.close();
    }
  });

  it('moves an unreadable state file aside and starts empty', async () => {
    const stateFile = path.join(dir, 'broken.json');
    fs.writeFileSync(stateFile, '{ not json');
    const sink = await startReceiver();
    const sim2 = await startSimulator({
      webhookUrl: sink.url,
      webhookSecret: SECRET,
      logger,
      stateFile,
    });
    try {
      expect(sim2.state.customers.size).toBe(0);
      expect(fs.readdirSync(dir).some((name) => name.startsWith('broken.json.broken-'))).toBe(true);
    } finally {
      await sim2.close();
      await sink.close();
    }
  });
});
