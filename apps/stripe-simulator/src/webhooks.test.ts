import { rootLogger } from '@billing/logger';
import { Stripe } from '@billing/stripe';
import { stripeEvent } from '@billing/stripe-fake';
import { afterEach, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from './receiver.js';
import { WebhookSender } from './webhooks.js';

const SECRET = 'whsec_sender_test_secret';
const verifier = new Stripe('sk_test_x');
const logger = rootLogger();

let receiver: Receiver | undefined;
let sender: WebhookSender | undefined;
afterEach(async () => {
  await sender?.close();
  await receiver?.close();
});

const events = (types: string[]) =>
  types.map((type) => stripeEvent({ type, object: { id: 'cus_1', object: 'customer' } }));

describe('webhook sender', () => {
  it('delivers in order, each body signed so that stripe.webhooks.constructEvent accepts it', async () => {
    receiver = await startReceiver();
    sender = new WebhookSender({ url: receiver.url, secret: SECRET, logger });
    const sent = events(['customer.created', 'customer.updated', 'customer.deleted']);
    for (const event of sent) sender.enqueue(event);
    expect(await sender.idle(5_000)).toBe(true);

    expect(receiver.deliveries.map((delivery) => delivery.id)).toEqual(
      sent.map((event) => event.id),
    );
    for (const delivery of receiver.deliveries) {
      const verified = verifier.webhooks.constructEvent(delivery.body, delivery.signature, SECRET);
      expect(verified.id).toBe(delivery.id);
    }
    expect(sender.stats()).toMatchObject({
      delivered: 3,
      failed: 0,
      attempts: 3,
      queued: 0,
      retrying: 0,
    });
  });

  it('retries a non-2xx answer with backoff until it is accepted, without holding up later events', async () => {
    receiver = await startReceiver();
    receiver.answer(500, 503);
    sender = new WebhookSender({ url: receiver.url, secret: SECRET, logger, backoffMs: () => 100 });
    const [first, second] = events(['invoice.created', 'invoice.paid']);
    sender.enqueue(first!);
    sender.enqueue(second!);
    expect(await sender.idle(5_000)).toBe(true);

    // first: 500; second: 503; then both retried and accepted.
    expect(receiver.deliveries.map((delivery) => delivery.type)).toEqual([
      'invoice.created',
      'invoice.paid',
      'invoice.created',
      'invoice.paid',
    ]);
    expect(sender.stats()).toMatchObject({ delivered: 2, attempts: 4, failed: 0 });
    expect(sender.attemptLog().map((attempt) => attempt.status)).toEqual([500, 503, 200, 200]);
  });

  it('gives up after maxAttempts when the endpoint never accepts, and reports the event', async () => {
    receiver = await startReceiver();
    receiver.answer(400, 400, 400);
    const gaveUp: string[] = [];
    sender = new WebhookSender({
      url: receiver.url,
      secret: SECRET,
      logger,
      maxAttempts: 3,
      backoffMs: () => 10,
      onGiveUp: (event) => gaveUp.push(event.id),
    });
    const [event] = events(['customer.created']);
    sender.enqueue(event!);
    expect(await sender.idle(5_000)).toBe(true);
    expect(receiver.deliveries).toHaveLength(3);
    expect(gaveUp).toEqual([event!.id]);
    expect(sender.stats()).toMatchObject({ delivered: 0, failed: 1, attempts: 3 });
  });

  it('retries when nothing listens (connection refused) and counts the attempt with status 0', async () => {
    receiver = await startReceiver();
    const url = receiver.url;
    await receiver.close();
    receiver = undefined;
    sender = new WebhookSender({
      url,
      secret: SECRET,
      logger,
      maxAttempts: 2,
      backoffMs: () => 10,
    });
    sender.enqueue(events(['customer.created'])[0]!);
    expect(await sender.idle(5_000)).toBe(true);
    expect(sender.attemptLog().map((attempt) => attempt.status)).toEqual([0, 0]);
    expect(sender.attemptLog()[0]?.error).toBeTruthy();
  });
});
