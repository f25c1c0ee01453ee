import { type FakeStripe, FakeStripeState, startFakeStripe } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DAY_MS,
  json,
  seedFakeStripePlans,
  seedSubscription,
  startTestApi,
  type TestApi,
  uniqueUser,
} from './support.js';

/**
 * The upgrade charges exactly what its preview showed. Stripe prorates a plan change from its
 * `proration_date`; the preview fixes one and returns it, the upgrade sends it back. Time
 * moves (the fake Stripe's clock and the API's, together) between the two, as it does while
 * a customer reads the preview, and the proration lines the upgrade left for the next invoice
 * must add up to the preview's amountDue.
 */
const services = await useTestServices('api-proration');
const DAY = DAY_MS / 1000;
let clock = Math.floor(Date.now() / 1000);
let t: TestApi;
let fake: FakeStripe;
let priceByRef = new Map<string, string>();

beforeAll(async () => {
  fake = await startFakeStripe({ state: new FakeStripeState({ now: () => clock }) });
  t = await startTestApi(services, { stripe: fake.stripe, now: () => clock * 1000 });
  priceByRef = await seedFakeStripePlans(fake, t);
});

afterAll(async () => {
  await t?.close();
  await fake?.close();
});

/** A pro subscriber whose period started now (fake clock), mirrored into Postgres. */
async function proSubscriber(label: string) {
  const userId = uniqueUser(label);
  const customer = fake.state.createCustomer({ userId });
  const subscription = fake.state.createSubscription({
    customer: customer.id,
    items: [{ price: priceByRef.get('pro_monthly')! }],
  });
  const item = subscription.items.data[0]!;
  await seedSubscription(t.db, {
    userId,
    status: 'active',
    priceId: priceByRef.get('pro_monthly')!,
    interval: 'month',
    customerId: customer.id,
    subscriptionId: subscription.id,
    itemId: item.id,
    periodStart: new Date(item.current_period_start * 1000),
    periodEnd: new Date(item.current_period_end * 1000),
  });
  return { userId, subscriptionId: subscription.id };
}

const pendingTotal = (subscriptionId: string) =>
  fake.state
    .pendingLines(subscriptionId)
    .reduce((sum, line) => sum + Number((line as { amount: number }).amount), 0);

interface Preview {
  amountDue: number;
  prorationDate: number;
}

async function preview(userId: string, extra = '') {
  return json<Preview>(
    await t.call(
      `/api/billing/proration-preview?userId=${userId}&planId=business&interval=month${extra}`,
    ),
  );
}

describe('proration preview and upgrade', () => {
  it('the upgrade sent with the preview’s prorationDate is charged exactly the previewed amount, days later', async () => {
    const user = await proSubscriber('prorate');
    clock += 10 * DAY;
    const shown = await preview(user.userId);
    expect(shown.status).toBe(200);
    expect(shown.body.prorationDate).toBe(clock);
    expect(shown.body.amountDue).toBeGreaterThan(0);

    clock += 3 * DAY; // the customer reads the preview; time passes
    // The cached preview still shows the same amount for the same date.
    expect((await preview(user.userId)).body).toEqual(shown.body);
    const response = await t.call('/api/billing/upgrade', {
      method: 'POST',
      json: {
        userId: user.userId,
        planId: 'business',
        interval: 'month',
        prorationDate: shown.body.prorationDate,
      },
    });
    expect(response.status).toBe(202);
    expect(pendingTotal(user.subscriptionId)).toBe(shown.body.amountDue);
  });

  it('without the date the same upgrade three days later would be charged another amount (why the date is passed)', async () => {
    const user = await proSubscriber('drifting');
    clock += 10 * DAY;
    const shown = await preview(user.userId);
    clock += 3 * DAY;
    const response = await t.call('/api/billing/upgrade', {
      method: 'POST',
      json: { userId: user.userId, planId: 'business', interval: 'month' },
    });
    expect(response.status).toBe(202);
    expect(pendingTotal(user.subscriptionId)).not.toBe(shown.body.amountDue);
  });

  it('a preview asked for a given date is cached under that date', async () => {
    const user = await proSubscriber('dated');
    clock += 2 * DAY;
    const at = clock - DAY;
    const first = await preview(user.userId, `&prorationDate=${at}`);
    expect(first.body.prorationDate).toBe(at);
    const now = await preview(user.userId);
    expect(now.body.prorationDate).toBe(clock);
    expect(now.body.amountDue).not.toBe(first.body.amountDue);
    expect((await preview(user.userId, `&prorationDate=${at}`)).body).toEqual(first.body);
  });

  it('rejects a proration date in the future or before the period, and sends nothing', async () => {
    const user = await proSubscriber('baddate');
    const sent = fake.requests.length;
    for (const [prorationDate, message] of [
      [clock + DAY, /future/],
      [clock - 400 * DAY, /current billing period/],
      ['soon', /unix seconds/],
    ] as const) {
      const response = await t.call('/api/billing/upgrade', {
        method: 'POST',
        json: { userId: user.userId, planId: 'business', interval: 'month', prorationDate },
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('invalid_field');
      expect(body.error.message).toMatch(message);
    }
    expect(fake.requests.length).toBe(sent);
    expect(pendingTotal(user.subscriptionId)).toBe(0);
  });
});
