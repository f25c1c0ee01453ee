import { Stripe } from '@billing/stripe';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { stripeEvent } from './factories.js';
import { DAY_SECONDS } from './ids.js';
import { type FakeStripe, startFakeStripe } from './server.js';

// The real stripe client (createStripeClient from @billing/stripe) against the fake server.
const fake: FakeStripe = await startFakeStripe();
const { stripe, state } = fake;
afterAll(() => fake.close());
beforeEach(() => fake.reset());

async function proPrices() {
  const product = await stripe.products.create({ name: 'Pro' });
  const monthly = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 2000,
    recurring: { interval: 'month' },
    lookup_key: 'pro_monthly',
  });
  const business = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 5000,
    recurring: { interval: 'month' },
    lookup_key: 'business_monthly',
  });
  const yearly = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 20000,
    recurring: { interval: 'year' },
    lookup_key: 'pro_yearly',
  });
  return { product, monthly, business, yearly };
}

const eventTypes = () => [...state.events.values()].map((event) => event.type);

describe('customers', () => {
  it('creates, retrieves and updates a customer, recording the change as events', async () => {
    const created = await stripe.customers.create({
      email: 'ada@example.com',
      metadata: { user_id: 'user_1', plan: 'free' },
    });
    expect(created.id).toMatch(/^cus_/);
    expect(created.metadata).toEqual({ user_id: 'user_1', plan: 'free' });

    const updated = await stripe.customers.update(created.id, {
      name: 'Ada',
      metadata: { plan: '', tier: 'gold' },
    });
    expect(updated.metadata).toEqual({ user_id: 'user_1', tier: 'gold' });
    expect((await stripe.customers.retrieve(created.id)) as Stripe.Customer).toMatchObject({
      name: 'Ada',
      email: 'ada@example.com',
    });

    const updateEvent = [...state.events.values()].find(
      (event) => event.type === 'customer.updated',
    );
    expect(updateEvent?.data.previous_attributes).toEqual({
      name: null,
      metadata: { plan: 'free', tier: null },
    });
    expect(updateEvent?.request.idempotency_key).toMatch(/^stripe-node-retry-/);
    expect(eventTypes()).toEqual(['customer.created', 'customer.updated']);
  });

  it('answers a missing customer with a 404 resource_missing error', async () => {
    const error = await stripe.customers
      .retrieve('cus_doesnotexist')
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'id' });
  });

  it('pages through 1,000 seeded customers, newest first, 100 per request', async () => {
    const seeded = state.seedCustomers(1000, (index) => ({ userId: `user_${index}` }));
    const all = await stripe.customers.list({ limit: 100 }).autoPagingToArray({ limit: 5000 });
    expect(all).toHaveLength(1000);
    expect(new Set(all.map((customer) => customer.id)).size).toBe(1000);
    expect(all[0]?.id).toBe(seeded[999]?.id);
    expect(all[999]?.id).toBe(seeded[0]?.id);
    expect(fake.requestsTo('GET', '/v1/customers')).toHaveLength(10);
  });

  it('iterates a list with for-await across pages and stops when asked', async () => {
    state.seedCustomers(25);
    const seen: string[] = [];
    for await (const customer of stripe.customers.list({ limit: 10 })) {
      seen.push(customer.id);
      if (seen.length === 15) break;
    }
    expect(new Set(seen).size).toBe(15);
    expect(fake.requestsTo('GET', '/v1/customers')).toHaveLength(2);
  });

  it('pages backwards with ending_before', async () => {
    const seeded = state.seedCustomers(5);
    const page = await stripe.customers.list({ limit: 2, ending_before: seeded[1]!.id });
    expect(page.data.map((customer) => customer.id)).toEqual([seeded[3]!.id, seeded[2]!.id]);
    expect(page.has_more).toBe(true);
  });

  it('rejects a starting_after cursor that is not a customer with 400 resource_missing', async () => {
    const error = await stripe.customers
      .list({ starting_after: 'cus_unknown' })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      statusCode: 400,
      code: 'resource_missing',
      param: 'starting_after',
    });
  });

  it('rejects an out-of-range limit with a 400 naming the parameter', async () => {
    const error = await stripe.customers.list({ limit: 500 }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ statusCode: 400, param: 'limit' });
  });

  it('searches customers by metadata and pages the results', async () => {
    state.seedCustomers(30, (index) => ({ userId: index % 3 === 0 ? 'needle' : `user_${index}` }));
    const found = await stripe.customers
      .search({ query: "metadata['user_id']:'needle'", limit: 4 })
      .autoPagingToArray({ limit: 100 });
    expect(found).toHaveLength(10);
    expect(found.every((customer) => customer.metadata.user_id === 'needle')).toBe(true);
  });

  it('deleting a customer cancels its subscriptions', async () => {
    const { monthly } = await proPrices();
    const customer = await stripe.customers.create({});
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const deleted = await stripe.customers.del(customer.id);
    expect(deleted.deleted).toBe(true);
    expect(state.subscriptions.get(subscription.id)?.status).toBe('canceled');
    const retrieved = await stripe.customers.retrieve(customer.id);
    expect(retrieved).toMatchObject({ id: customer.id, deleted: true });
  });
});

describe('products and prices', () => {
  it('lists prices by lookup key with the product expanded', async () => {
    const { product, yearly } = await proPrices();
    const prices = await stripe.prices.list({
      lookup_keys: ['pro_yearly'],
      expand: ['data.product'],
    });
    expect(prices.data).toHaveLength(1);
    const [price] = prices.data;
    expect(price?.id).toBe(yearly.id);
    expect(price?.recurring?.interval).toBe('year');
    expect(price?.product).toMatchObject({ id: product.id, name: product.name, object: 'product' });
  });

  it('retrieves and lists products and prices; filters prices by product and type', async () => {
    const { product, monthly } = await proPrices();
    expect((await stripe.products.retrieve(product.id)).name).toBe('Pro');
    expect((await stripe.prices.retrieve(monthly.id)).unit_amount).toBe(2000);
    expect((await stripe.products.list()).data.map((entry) => entry.id)).toEqual([product.id]);
    const recurring = await stripe.prices.list({
      product: product.id,
      type: 'recurring',
      limit: 2,
    });
    expect(recurring.data).toHaveLength(2);
    expect(recurring.has_more).toBe(true);
  });

  it('refuses a lookup key already in use unless transfer_lookup_key is set', async () => {
    const { product, monthly } = await proPrices();
    const params = {
      product: product.id,
      currency: 'usd',
      unit_amount: 2500,
      recurring: { interval: 'month' as const },
      lookup_key: 'pro_monthly',
    };
    const error = await stripe.prices.create(params).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ statusCode: 400, param: 'lookup_key' });
    const moved = await stripe.prices.create({ ...params, transfer_lookup_key: true });
    expect(moved.lookup_key).toBe('pro_monthly');
    expect((await stripe.prices.retrieve(monthly.id)).lookup_key).toBeNull();
  });

  it('creates a price for an unknown product with a 400 resource_missing on product', async () => {
    const error = await stripe.prices
      .create({ product: 'prod_missing', currency: 'usd', unit_amount: 100 })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ statusCode: 400, code: 'resource_missing', param: 'product' });
  });
});

describe('subscriptions', () => {
  it('creates an active subscription with periods on items and a paid first invoice', async () => {
    const { monthly } = await proPrices();
    const customer = await stripe.customers.create({ metadata: { user_id: 'user_7' } });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id, quantity: 2 }],
      metadata: { user_id: 'user_7' },
      expand: ['latest_invoice'],
    });
    expect(subscription).toMatchObject({
      status: 'active',
      customer: customer.id,
      metadata: { user_id: 'user_7' },
    });
    const item = subscription.items.data[0]!;
    expect(item).toMatchObject({ quantity: 2, price: { id: monthly.id } });
    // One calendar month (28 to 31 days), as Stripe bills.
    expect(item.current_period_end - item.current_period_start).toBeGreaterThanOrEqual(
      28 * DAY_SECONDS,
    );
    expect(item.current_period_end - item.current_period_start).toBeLessThanOrEqual(
      31 * DAY_SECONDS,
    );
    expect(subscription).not.toHaveProperty('current_period_end');
    const invoice = subscription.latest_invoice as Stripe.Invoice;
    expect(invoice).toMatchObject({
      status: 'paid',
      amount_paid: 4000,
      billing_reason: 'subscription_create',
    });
    expect(invoice.parent?.subscription_details?.subscription).toBe(subscription.id);
    expect(eventTypes()).toContain('customer.subscription.created');
    expect(eventTypes().slice(-5)).toEqual([
      'invoice.created',
      'invoice.finalized',
      'invoice.paid',
      'invoice.payment_succeeded',
      'customer.subscription.updated',
    ]);
  });

  it('starts a trial when trial_period_days is given', async () => {
    const { monthly } = await proPrices();
    const customer = await stripe.customers.create({});
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      trial_period_days: 14,
    });
    expect(subscription.status).toBe('trialing');
    expect(subscription.trial_end! - subscription.trial_start!).toBe(14 * DAY_SECONDS);
  });

  it('changes the price of an item and invoices the proration at once with always_invoice', async () => {
    const { monthly, business } = await proPrices();
    const customer = await stripe.customers.create({});
    const created = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const item = created.items.data[0]!;
    const halfway = (item.current_period_start + item.current_period_end) / 2;
    const updated = await stripe.subscriptions.update(created.id, {
      items: [{ id: item.id, price: business.id }],
      proration_behavior: 'always_invoice',
      proration_date: halfway,
    });
    expect(updated.items.data).toHaveLength(1);
    expect(updated.items.data[0]).toMatchObject({ id: item.id, price: { id: business.id } });
    const invoice = await stripe.invoices.retrieve(updated.latest_invoice as string);
    expect(invoice).toMatchObject({
      amount_due: 1500,
      billing_reason: 'subscription_update',
      status: 'paid',
    });
    expect(invoice.lines.data.map((line) => line.amount)).toEqual([-1000, 2500]);
    const event = [...state.events.values()]
      .filter((entry) => entry.type === 'customer.subscription.updated')
      .at(-1);
    expect(event?.data.previous_attributes?.items).toMatchObject({
      data: [{ id: item.id, price: { id: monthly.id } }],
    });
  });

  it('adds an item when items[n] has a price but no id, as Stripe does', async () => {
    const { monthly, business } = await proPrices();
    const customer = await stripe.customers.create({});
    const created = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const updated = await stripe.subscriptions.update(created.id, {
      items: [{ price: business.id }],
      proration_behavior: 'none',
    });
    expect(updated.items.data.map((item) => item.price.id)).toEqual([monthly.id, business.id]);
    const items = await stripe.subscriptionItems
      .list({ subscription: created.id, limit: 1 })
      .autoPagingToArray({ limit: 10 });
    expect(items.map((item) => item.price.id)).toEqual([monthly.id, business.id]);
    expect(fake.requestsTo('GET', '/v1/subscription_items')).toHaveLength(2);
  });

  it('schedules cancellation at period end and reports what changed', async () => {
    const { monthly } = await proPrices();
    const customer = await stripe.customers.create({});
    const created = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const updated = await stripe.subscriptions.update(created.id, { cancel_at_period_end: true });
    expect(updated.cancel_at_period_end).toBe(true);
    expect(updated.cancel_at).toBe(created.items.data[0]!.current_period_end);
    const event = [...state.events.values()].at(-1);
    expect(event?.type).toBe('customer.subscription.updated');
    expect(event?.data.previous_attributes).toMatchObject({
      cancel_at_period_end: false,
      cancel_at: null,
    });
  });

  it('cancels with DELETE; the default list hides it and status=all shows it', async () => {
    const { monthly } = await proPrices();
    const customer = await stripe.customers.create({});
    const first = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const second = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const canceled = await stripe.subscriptions.cancel(first.id);
    expect(canceled.status).toBe('canceled');
    expect(canceled.canceled_at).not.toBeNull();
    expect(eventTypes()).toContain('customer.subscription.deleted');

    const active = await stripe.subscriptions.list({ customer: customer.id });
    expect(active.data.map((subscription) => subscription.id)).toEqual([second.id]);
    const all = await stripe.subscriptions.list({ customer: customer.id, status: 'all' });
    expect(all.data.map((subscription) => subscription.id).sort()).toEqual(
      [first.id, second.id].sort(),
    );
    const error = await stripe.subscriptions
      .update(first.id, { cancel_at_period_end: true })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ statusCode: 400 });
  });

  it('rejects a subscription for an unknown price with a 400 naming the item', async () => {
    const customer = await stripe.customers.create({});
    const error = await stripe.subscriptions
      .create({ customer: customer.id, items: [{ price: 'price_missing' }] })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      statusCode: 400,
      code: 'resource_missing',
      param: 'items[0][price]',
    });
  });

  it('lists subscriptions of one customer across pages', async () => {
    const { monthly } = await proPrices();
    const customer = await stripe.customers.create({});
    const other = await stripe.customers.create({});
    for (let index = 0; index < 5; index++) {
      await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    }
    await stripe.subscriptions.create({ customer: other.id, items: [{ price: monthly.id }] });
    const mine = await stripe.subscriptions
      .list({ customer: customer.id, limit: 2 })
      .autoPagingToArray({ limit: 100 });
    expect(mine).toHaveLength(5);
    expect(mine.every((subscription) => subscription.customer === customer.id)).toBe(true);
  });
});

describe('invoices', () => {
  it('previews an upgrade halfway through the period: prorations plus the next period', async () => {
    const { monthly, business } = await proPrices();
    const customer = await stripe.customers.create({});
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const item = subscription.items.data[0]!;
    const halfway = (item.current_period_start + item.current_period_end) / 2;
    const preview = await stripe.invoices.createPreview({
      customer: customer.id,
      subscription: subscription.id,
      subscription_details: {
        items: [{ id: item.id, price: business.id }],
        proration_date: halfway,
      },
    });
    expect(preview.id).toMatch(/^upcoming_in_/);
    const prorations = preview.lines.data.filter(
      (line) => line.parent?.subscription_item_details?.proration,
    );
    expect(prorations.map((line) => line.amount)).toEqual([-1000, 2500]);
    expect(preview.amount_due).toBe(-1000 + 2500 + 5000);

    const immediate = await stripe.invoices.createPreview({
      subscription: subscription.id,
      subscription_details: {
        items: [{ id: item.id, price: business.id }],
        proration_date: halfway,
        proration_behavior: 'always_invoice',
      },
    });
    expect(immediate.amount_due).toBe(1500);
    // A preview changes nothing.
    expect((await stripe.subscriptions.retrieve(subscription.id)).items.data[0]?.price.id).toBe(
      monthly.id,
    );
  });

  it('previews a downgrade as a credit, never a negative amount due', async () => {
    const { monthly, business } = await proPrices();
    const customer = await stripe.customers.create({});
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: business.id }],
    });
    const item = subscription.items.data[0]!;
    const preview = await stripe.invoices.createPreview({
      subscription: subscription.id,
      subscription_details: {
        items: [{ id: item.id, price: monthly.id }],
        proration_date: (item.current_period_start + item.current_period_end) / 2,
        proration_behavior: 'always_invoice',
      },
    });
    expect(preview.total).toBe(-2500 + 1000);
    expect(preview.amount_due).toBe(0);
  });

  it('previews a switch to yearly as a full yearly charge less the unused month', async () => {
    const { monthly, yearly } = await proPrices();
    const customer = await stripe.customers.create({});
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const item = subscription.items.data[0]!;
    const preview = await stripe.invoices.createPreview({
      subscription: subscription.id,
      subscription_details: {
        items: [{ id: item.id, price: yearly.id }],
        proration_date: (item.current_period_start + item.current_period_end) / 2,
      },
    });
    expect(preview.amount_due).toBe(20000 - 1000);
  });

  it('lists invoices by customer and retrieves one', async () => {
    const { monthly } = await proPrices();
    const customer = await stripe.customers.create({});
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const invoices = await stripe.invoices.list({ customer: customer.id });
    expect(invoices.data).toHaveLength(1);
    expect(invoices.data[0]?.id).toBe(subscription.latest_invoice);
    expect((await stripe.invoices.list({ customer: 'cus_nobody' })).data).toHaveLength(0);
    const error = await stripe.invoices.retrieve('in_missing').catch((caught: unknown) => caught);
    expect(error).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });
});

describe('checkout sessions', () => {
  it('creates a session with a url, retrieves it, and completing it creates the subscription', async () => {
    const { monthly } = await proPrices();
    const customer = await stripe.customers.create({});
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: customer.id,
      client_reference_id: 'user_9',
      line_items: [{ price: monthly.id, quantity: 1 }],
      success_url: 'https://app.example.com/billing?ok=1',
      subscription_data: { metadata: { user_id: 'user_9' } },
    });
    expect(session.url).toMatch(/^https:\/\/checkout\.stripe\.com\//);
    expect(session).toMatchObject({ status: 'open', mode: 'subscription', amount_total: 2000 });
    expect((await stripe.checkout.sessions.retrieve(session.id)).id).toBe(session.id);

    const completed = state.completeCheckoutSession(session.id);
    expect(completed.status).toBe('complete');
    const subscription = state.subscriptions.get(completed.subscription as string);
    expect(subscription?.metadata).toEqual({ user_id: 'user_9' });
    expect(eventTypes().at(-1)).toBe('checkout.session.completed');
  });

  it('rejects a session without a mode with 400 parameter_missing', async () => {
    const error = await stripe.checkout.sessions
      .create({
        line_items: [{ price: 'price_x', quantity: 1 }],
      } as Stripe.Checkout.SessionCreateParams)
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'mode' });
  });
});

describe('events', () => {
  it('lists seeded events filtered by delivery_success and type, across pages', async () => {
    for (let index = 0; index < 12; index++) {
      state.seedEvent(
        stripeEvent({
          type: 'invoice.paid',
          object: { id: `in_${index}`, object: 'invoice' },
          created: 1_700_000_000 + index,
        }),
        { deliverySuccess: index % 2 === 0 },
      );
    }
    state.seedEvent(
      stripeEvent({ type: 'customer.created', object: { id: 'cus_1', object: 'customer' } }),
      {
        deliverySuccess: false,
      },
    );
    const failed = await stripe.events
      .list({ delivery_success: false, limit: 3 })
      .autoPagingToArray({ limit: 100 });
    expect(failed).toHaveLength(7);
    const failedInvoices = await stripe.events
      .list({ delivery_success: false, type: 'invoice.*', limit: 4 })
      .autoPagingToArray({ limit: 100 });
    expect(failedInvoices.map((event) => event.created)).toEqual(
      [11, 9, 7, 5, 3, 1].map((offset) => 1_700_000_000 + offset),
    );
    const one = await stripe.events.retrieve(failed[0]!.id);
    expect(one.type).toBe('customer.created');
  });
});

describe('billing meter events', () => {
  it('records meter events once per identifier and rejects stale timestamps', async () => {
    const first = await stripe.billing.meterEvents.create({
      event_name: 'compute_minutes',
      payload: { stripe_customer_id: 'cus_1', value: '25' },
      identifier: 'usage-1',
    });
    expect(first).toMatchObject({
      object: 'billing.meter_event',
      identifier: 'usage-1',
      payload: { value: '25' },
    });
    await stripe.billing.meterEvents.create({
      event_name: 'compute_minutes',
      payload: { stripe_customer_id: 'cus_1', value: '25' },
      identifier: 'usage-1',
    });
    expect(state.meterEvents.size).toBe(1);
    expect(state.meterEventDuplicates).toBe(1);
    expect(
      fake.requestsTo('POST', '/v1/billing/meter_events').map((request) => request.body.identifier),
    ).toEqual(['usage-1', 'usage-1']);

    const stale = await stripe.billing.meterEvents
      .create({
        event_name: 'compute_minutes',
        payload: { stripe_customer_id: 'cus_1', value: '1' },
        timestamp: Math.floor(Date.now() / 1000) - 40 * DAY_SECONDS,
      })
      .catch((caught: unknown) => caught);
    expect(stale).toMatchObject({ statusCode: 400, param: 'timestamp' });
  });
});

describe('faults and retries', () => {
  it('a 500 is retried by the client with the same idempotency key, and both attempts are recorded', async () => {
    fake.failNext(1, 500, { path: '/v1/customers' });
    const customer = await stripe.customers.create({ email: 'retry@example.com' });
    const attempts = fake.requestsTo('POST', '/v1/customers');
    expect(attempts.map((attempt) => [attempt.status, attempt.injected])).toEqual([
      [500, true],
      [200, false],
    ]);
    expect(attempts[0]?.idempotencyKey).toBeDefined();
    expect(attempts[1]?.idempotencyKey).toBe(attempts[0]?.idempotencyKey);
    expect(state.customers.size).toBe(1);
    expect(state.customers.get(customer.id)?.email).toBe('retry@example.com');
  });

  it('a 429 surfaces as StripeRateLimitError with Retry-After when Stripe does not ask for a retry', async () => {
    fake.failNext(1, 429);
    const error = await stripe.customers.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(error).toMatchObject({ statusCode: 429, code: 'rate_limit' });
    expect((error as Stripe.errors.StripeError).headers?.['retry-after']).toBe('1');
    expect(fake.requests).toHaveLength(1);
  });

  it('a 429 with Stripe-Should-Retry is retried by the client until it succeeds', async () => {
    fake.failNext(1, 429, { shouldRetry: true });
    const page = await stripe.customers.list();
    expect(page.object).toBe('list');
    expect(fake.requests.map((request) => request.status)).toEqual([429, 200]);
  });

  it('faults only hit matching paths; other requests go through', async () => {
    fake.failNext(1, 503, { path: '/v1/prices', shouldRetry: false });
    await stripe.customers.list();
    const error = await stripe.prices.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(fake.requests.map((request) => [request.path, request.status])).toEqual([
      ['/v1/customers', 200],
      ['/v1/prices', 503],
    ]);
  });

  it('a dropped connection is retried by the client', async () => {
    fake.failNext(1, 'connection-reset');
    const customer = await stripe.customers.create({});
    expect(customer.id).toMatch(/^cus_/);
    expect(fake.requests.map((request) => request.injected)).toEqual([true, false]);
    expect(state.customers.size).toBe(1);
  });
});

describe('idempotency', () => {
  it('replays the first response for a repeated Idempotency-Key and creates nothing new', async () => {
    const first = await stripe.customers.create(
      { email: 'once@example.com' },
      { idempotencyKey: 'signup-user-1' },
    );
    const again = await stripe.customers.create(
      { email: 'once@example.com' },
      { idempotencyKey: 'signup-user-1' },
    );
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(state.customers.size).toBe(1);
    expect(fake.requests.map((request) => request.replayed)).toEqual([false, true]);
    expect(eventTypes()).toEqual(['customer.created']);
  });

  it('rejects a reused key with different parameters as StripeIdempotencyError', async () => {
    await stripe.customers.create({ email: 'a@example.com' }, { idempotencyKey: 'key-1' });
    const error = await stripe.customers
      .create({ email: 'b@example.com' }, { idempotencyKey: 'key-1' })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(state.customers.size).toBe(1);
  });
});

describe('protocol', () => {
  it('answers a request without an API key with 401', async () => {
    const response = await fetch(`${fake.url}/v1/customers`);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe(
      'invalid_request_error',
    );
  });

  it('answers an unknown route with a Stripe-style 404', async () => {
    const response = await fetch(`${fake.url}/v1/not_a_resource`, {
      headers: { authorization: 'Bearer sk_test_x' },
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /Unrecognized request URL/,
    );
  });

  it('records method, path, decoded body and headers of each request', async () => {
    await stripe.subscriptions
      .create({
        customer: 'cus_missing',
        items: [{ price: 'price_a', quantity: 2 }],
        metadata: { user_id: 'u1' },
      })
      .catch(() => undefined);
    const [request] = fake.requests;
    expect(request).toMatchObject({
      method: 'POST',
      path: '/v1/subscriptions',
      body: {
        customer: 'cus_missing',
        items: [{ price: 'price_a', quantity: '2' }],
        metadata: { user_id: 'u1' },
      },
      status: 400,
    });
    expect(request?.headers['stripe-version']).toBeDefined();
    expect(request?.headers.authorization).toMatch(/^Bearer sk_test_/);
  });
});
