import { describe, expect, it } from 'vitest';
import { jobCatalog, parsePayload, QUEUES, WEBHOOK_ATTEMPTS, webhookBackoffMs } from './catalog.js';

describe('job catalog', () => {
  it('puts both Stripe event job types on the stripe-events queue', () => {
    expect(jobCatalog['stripe.event'].queue).toBe('stripe-events');
    expect(jobCatalog['stripe.thin-event'].queue).toBe(QUEUES.stripeEvents);
  });

  it('rejects a webhook payload without an event id', () => {
    expect(() =>
      parsePayload('stripe.event', { type: 'x', raw: '{}', receivedAt: 1, secretIndex: 0 }),
    ).toThrow();
  });

  it('backs off exponentially with jitter and caps each delay at 15 minutes', () => {
    expect(webhookBackoffMs(1, () => 0.5)).toBe(1_000);
    expect(webhookBackoffMs(4, () => 0.5)).toBe(8_000);
    expect(webhookBackoffMs(30, () => 0.5)).toBe(15 * 60_000);
    expect(webhookBackoffMs(3, () => 0)).toBe(2_000);
    expect(webhookBackoffMs(3, () => 0.999)).toBeLessThan(8_000);
  });

  it('keeps retrying webhooks for hours, not seconds', () => {
    let total = 0;
    for (let attempt = 1; attempt < WEBHOOK_ATTEMPTS; attempt++)
      total += webhookBackoffMs(attempt, () => 0);
    expect(total).toBeGreaterThan(3 * 3600_000);
  });
});
