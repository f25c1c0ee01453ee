import { type FakeStripe, startFakeStripe } from '@billing/stripe-fake';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mapBounded, retrieveCustomers, updateSubscriptions } from './batch.js';

const fake: FakeStripe = await startFakeStripe();
afterAll(() => fake.close());
beforeEach(() => fake.reset());
const backoff = { baseDelayMs: 1, maxDelayMs: 5 };

describe('mapBounded', () => {
  it('never runs more than `concurrency` tasks at once and keeps input order', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapBounded([...Array(25).keys()], 4, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, n % 3));
      inFlight--;
      return n * 2;
    });
    expect(peak).toBe(4);
    expect(results).toEqual([...Array(25).keys()].map((n) => n * 2));
  });
});

describe('retrieveCustomers', () => {
  it('retrieves every customer despite 429s and reports a missing one as a failed item', async () => {
    const seeded = fake.state.seedCustomers(30);
    const ids = [...seeded.map((c) => c.id), 'cus_missing000000'];
    fake.failNext(3, 429, { path: '/v1/customers/', retryAfterSeconds: 0 });

    const results = await retrieveCustomers(fake.stripe, ids, { concurrency: 3, backoff });
    expect(results).toHaveLength(31);
    expect(results.slice(0, 30).every((r, i) => r.ok && r.value.id === ids[i])).toBe(true);
    expect(results[30]).toMatchObject({
      id: 'cus_missing000000',
      ok: false,
      error: { code: 'resource_missing', statusCode: 404 },
    });
    expect(fake.requestsTo('GET', '/v1/customers/').filter((r) => r.status === 429)).toHaveLength(
      3,
    );
  });
});

describe('updateSubscriptions', () => {
  it('updates in batches of 20 with one result per item, retrying a 429 under the same idempotency key', async () => {
    const product = await fake.stripe.products.create({ name: 'Pro' });
    const price = await fake.stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 1000,
      recurring: { interval: 'month' },
    });
    const customer = await fake.stripe.customers.create({ email: 'batch@example.com' });
    const subs = [];
    for (let i = 0; i < 44; i++) {
      subs.push(
        await fake.stripe.subscriptions.create({
          customer: customer.id,
          items: [{ price: price.id }],
        }),
      );
    }
    const updates = [
      ...subs.map((sub, i) => ({ id: sub.id, params: { metadata: { batch: String(i) } } })),
      { id: 'sub_1Missing000000000000000', params: { metadata: { batch: 'x' } } },
    ];
    fake.requests.length = 0;
    fake.failNext(1, 429, { path: `/v1/subscriptions/${subs[5]!.id}`, retryAfterSeconds: 0 });

    const results = await updateSubscriptions(fake.stripe, updates, { backoff });
    expect(results).toHaveLength(45);
    expect(results.slice(0, 44).every((r, i) => r.ok && r.value.metadata.batch === String(i))).toBe(
      true,
    );
    expect(results[44]).toMatchObject({ ok: false, error: { code: 'resource_missing' } });

    // Each batch starts only after the previous one settled: requests arrive batch by batch.
    const posts = fake.requestsTo('POST', '/v1/subscriptions/').filter((r) => r.status !== 429);
    const batchOf = (path: string) =>
      Math.floor(updates.findIndex((u) => path.endsWith(u.id)) / 20);
    const order = posts.map((r) => batchOf(r.path));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    const retried = fake.requestsTo('POST', `/v1/subscriptions/${subs[5]!.id}`);
    expect(retried.map((r) => r.status)).toEqual([429, 200]);
    expect(retried[0]?.idempotencyKey).toBe(retried[1]?.idempotencyKey);
  });
});
