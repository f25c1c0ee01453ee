import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { subscriptionScheduleObject } from './factories.js';
import { type FakeStripe, startFakeStripe } from './server.js';
import { FakeStripeState } from './state.js';

// Every object type the webhook worker re-reads (packages/sync refetch.ts), with the same
// client calls it makes. Before these routes existed each answered 404 "Unrecognized request
// URL", which the worker takes for a deleted object; now only ids the fake does not hold are 404.
const state = new FakeStripeState();
const fake: FakeStripe = await startFakeStripe({ state });
const { stripe } = fake;
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const statusOf = async (call: () => Promise<unknown>) => {
  try {
    await call();
    return 200;
  } catch (error) {
    return (error as { statusCode?: number }).statusCode;
  }
};

async function paidSubscription() {
  const product = await stripe.products.create({ name: 'Pro' });
  const price = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 3000,
    recurring: { interval: 'month' },
  });
  const customer = await stripe.customers.create({ email: 'a@example.com' });
  const subscription = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id }],
  });
  return { product, price, customer, subscription };
}

describe('re-reads of every object type the worker re-fetches', () => {
  it('serves a recurring price as the plan with its id', async () => {
    const { price, product } = await paidSubscription();
    const plan = await stripe.plans.retrieve(price.id);
    expect(plan).toMatchObject({
      object: 'plan',
      id: price.id,
      amount: 3000,
      currency: 'usd',
      interval: 'month',
      product: product.id,
    });
    expect(await statusOf(() => stripe.plans.retrieve('price_missing'))).toBe(404);
  });

  it('serves the invoice payment of a paid invoice', async () => {
    const { subscription } = await paidSubscription();
    const invoiceId = String(subscription.latest_invoice);
    const payment = [...state.invoicePayments.values()].find((p) => p.invoice === invoiceId);
    expect(payment).toBeDefined();
    const fetched = await stripe.invoicePayments.retrieve(payment!.id);
    expect(fetched).toMatchObject({ id: payment!.id, invoice: invoiceId, status: 'paid' });
    expect(fetched.amount_paid).toBe(3000);
    expect(await statusOf(() => stripe.invoicePayments.retrieve('inpay_missing'))).toBe(404);
  });

  it('serves a subscription schedule it holds', async () => {
    const { customer, price } = await paidSubscription();
    const schedule = state.seedSubscriptionSchedule(
      subscriptionScheduleObject({
        customer: customer.id,
        phases: [{ price: price.id, startDate: 1_800_000_000, endDate: null }],
      }),
    );
    const fetched = await stripe.subscriptionSchedules.retrieve(schedule.id);
    expect(fetched).toMatchObject({ id: schedule.id, object: 'subscription_schedule' });
    expect(await statusOf(() => stripe.subscriptionSchedules.retrieve('sub_sched_missing'))).toBe(
      404,
    );
  });

  it('serves active entitlements by id and as a customer list', async () => {
    const { customer } = await paidSubscription();
    const other = await stripe.customers.create({});
    const granted = state.grantEntitlement(customer.id, 'api_access');
    state.grantEntitlement(other.id, 'other_feature');
    const data = await stripe.entitlements.activeEntitlements
      .list({ customer: customer.id, limit: 100 })
      .autoPagingToArray({ limit: 10_000 });
    expect(data.map((entitlement) => entitlement.lookup_key)).toEqual(['api_access']);
    const fetched = await stripe.entitlements.activeEntitlements.retrieve(granted.id);
    expect(fetched).toMatchObject({ id: granted.id, lookup_key: 'api_access' });
    expect(await statusOf(() => stripe.entitlements.activeEntitlements.retrieve('ent_x'))).toBe(
      404,
    );
  });

  it('keeps the new resources across a state file round trip', async () => {
    const { customer } = await paidSubscription();
    state.grantEntitlement(customer.id, 'api_access');
    const restored = FakeStripeState.fromJSON(state.toJSON());
    expect(restored.invoicePayments.size).toBe(state.invoicePayments.size);
    expect(restored.activeEntitlementsOf(customer.id).map((e) => e.lookup_key)).toEqual([
      'api_access',
    ]);
  });
});
