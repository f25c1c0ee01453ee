import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { signStripePayload, signStripePayloadMulti } from './sign.js';

const stripe = new Stripe('sk_test_signature_check');
const secret = 'whsec_test_signing_secret';
const payload = JSON.stringify({ id: 'evt_1SignTest', object: 'event', type: 'customer.created' });

describe('signStripePayload', () => {
  it('produces a header the real stripe verifier accepts', () => {
    const event = stripe.webhooks.constructEvent(
      payload,
      signStripePayload(payload, secret),
      secret,
    );
    expect(event.id).toBe('evt_1SignTest');
    expect(event.type).toBe('customer.created');
  });

  it('matches the stripe library own test header for the same timestamp', () => {
    const timestamp = 1_700_000_000;
    const expected = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
    expect(signStripePayload(payload, secret, timestamp)).toBe(expected);
  });

  it('is rejected when verified with a different secret', () => {
    const header = signStripePayload(payload, 'whsec_other_secret');
    expect(() => stripe.webhooks.constructEvent(payload, header, secret)).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );
  });

  it('is rejected when the payload was altered after signing', () => {
    const header = signStripePayload(payload, secret);
    expect(() => stripe.webhooks.constructEvent(`${payload} `, header, secret)).toThrow(
      /No signatures found matching/,
    );
  });

  it('is rejected when the timestamp is older than the 300 s tolerance', () => {
    const stale = Math.floor(Date.now() / 1000) - 301;
    const header = signStripePayload(payload, secret, stale);
    expect(() => stripe.webhooks.constructEvent(payload, header, secret, 300)).toThrow(
      /Timestamp outside the tolerance zone/,
    );
  });

  it('signs with every secret during a rotation, and either secret verifies', () => {
    const header = signStripePayloadMulti(payload, ['whsec_old', 'whsec_new']);
    expect(stripe.webhooks.constructEvent(payload, header, 'whsec_old').id).toBe('evt_1SignTest');
    expect(stripe.webhooks.constructEvent(payload, header, 'whsec_new').id).toBe('evt_1SignTest');
  });
});
