import { afterAll, describe, expect, it } from 'vitest';
import { billingPortal } from './billing-portal.js';
import { startFakeStripe } from './server.js';

// The real stripe client against the fake server.
const fake = await startFakeStripe();
const { stripe, state } = fake;
afterAll(() => fake.close());

describe('POST /v1/billing_portal/sessions', () => {
  it('answers a session for an existing customer with its return URL and a link', async () => {
    const customer = await stripe.customers.create({ metadata: { user_id: 'u1' } });
    const session = await stripe.billingPortal.sessions.create({
      customer: customer.id,
      return_url: 'https://app.example.com/billing',
    });
    expect(session).toMatchObject({
      object: 'billing_portal.session',
      customer: customer.id,
      return_url: 'https://app.example.com/billing',
      livemode: false,
    });
    expect(session.id).toMatch(/^bps_1\w{23}$/);
    expect(session.url).toMatch(/^https:\/\/billing\.stripe\.com\/p\/session\/test_\w+$/);
    expect(billingPortal(state).sessions.get(session.id)).toEqual(session);
  });

  it('points the link at the hosted page when one is configured', async () => {
    const customer = await stripe.customers.create({});
    billingPortal(state).hostedAt = (id) => `http://127.0.0.1:9/billing-portal/${id}`;
    try {
      const session = await stripe.billingPortal.sessions.create({ customer: customer.id });
      expect(session.url).toBe(`http://127.0.0.1:9/billing-portal/${session.id}`);
      expect(session.return_url).toBeNull();
    } finally {
      billingPortal(state).hostedAt = undefined;
    }
  });

  it("refuses an unknown customer, a missing customer and a bad return URL with Stripe's errors", async () => {
    const count = billingPortal(state).sessions.size;
    await expect(
      stripe.billingPortal.sessions.create({ customer: 'cus_doesnotexist' }),
    ).rejects.toMatchObject({ statusCode: 400, code: 'resource_missing', param: 'customer' });
    await expect(
      stripe.billingPortal.sessions.create({} as { customer: string }),
    ).rejects.toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'customer' });
    const customer = await stripe.customers.create({});
    await expect(
      stripe.billingPortal.sessions.create({ customer: customer.id, return_url: 'not a url' }),
    ).rejects.toMatchObject({ statusCode: 400, code: 'url_invalid', param: 'return_url' });
    expect(billingPortal(state).sessions.size).toBe(count);
  });
});
