import { isLiveSubscriptionStatus } from '@billing/db/constants';
import type { Stripe } from '@billing/stripe';
import type { FakeStripeState, SnapshotEvent } from '@billing/stripe-fake';
import { billingPortal, StripeApiError } from '@billing/stripe-fake';
import express, { type ErrorRequestHandler, type Request, type Router } from 'express';
import { z } from 'zod';
import { checkoutPage, notFoundPage, successRedirect } from './checkout-page.js';
import { openInvoices, portalNotFoundPage, portalPage } from './portal-page.js';
import type { WebhookSender } from './webhooks.js';

/**
 * The simulator's own HTTP surface next to the fake API (`/v1/…`):
 *
 * - `GET /checkout/:id`: the hosted Checkout page a session's `url` points to; its Pay
 *   button (`POST /checkout/:id/pay`) completes the session and redirects to the success URL.
 * - `GET /billing-portal/:id`: the customer portal a billing portal session's `url` points
 *   to; "Update card" (`POST /billing-portal/:id/payment-method`) makes the card work, pays
 *   the open invoices and redirects to the return URL.
 * - `/_simulator/…`: JSON helpers that play what a customer, a card network or time would do
 *   (like `stripe trigger` and test clocks). Each change answers with the Stripe events it
 *   caused, which are delivered as signed webhooks in that order.
 */

export interface ControlDeps {
  state: FakeStripeState;
  webhooks: WebhookSender;
  /** Events whose delivery gave up, for `POST /_simulator/webhooks/redeliver`. */
  redeliver(eventIds?: string[]): SnapshotEvent[];
}

type Json = Record<string, unknown>;

const eventSummary = (event: SnapshotEvent) => {
  const object = event.data.object as Json;
  return { id: event.id, type: event.type, object: object.id ?? null, created: event.created };
};

/** Runs a state change and returns its result plus the events it emitted, in order. */
function capture<T>(
  state: FakeStripeState,
  change: () => T,
): { result: T; events: SnapshotEvent[] } {
  const events: SnapshotEvent[] = [];
  const off = state.subscribe((event) => events.push(event));
  try {
    return { result: change(), events };
  } finally {
    off();
  }
}

const subscriptionBody = z
  .object({
    /** The app's user id, stored as the customer's and subscription's `metadata.user_id`. */
    userId: z.string().min(1).max(200),
    /** A price id or lookup key, e.g. `pro_monthly`. */
    price: z.string().min(1),
    email: z.string().email().optional(),
    paymentFails: z.boolean().optional(),
  })
  .strict();
const renewBody = z.object({ paymentFails: z.boolean().optional() }).strict();
const renewalsBody = z
  .object({
    /** Default: every live subscription. */
    subscriptions: z.array(z.string().min(1)).max(10_000).optional(),
    /** Subscriptions whose renewal payment declines. */
    failing: z.array(z.string().min(1)).max(10_000).optional(),
  })
  .strict();
const cardBody = z.object({ declines: z.boolean() }).strict();
const redeliverBody = z
  .object({ eventIds: z.array(z.string().min(1)).max(10_000).optional() })
  .strict();

const parseBody = <S extends z.ZodType>(schema: S, req: Request): z.infer<S> => {
  const parsed = schema.safeParse(req.body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`,
      'parameter_invalid',
      issue?.path.join('.') || undefined,
    );
  }
  return parsed.data;
};

export function controlRouter(deps: ControlDeps): Router {
  const { state, webhooks } = deps;
  const router = express.Router();
  const json = express.json({ limit: '1mb' });

  const priceFor = (ref: string): Stripe.Price => {
    const price =
      state.prices.get(ref) ??
      [...state.prices.values()].find(
        (candidate) => candidate.active && candidate.lookup_key === ref,
      );
    if (!price)
      throw new StripeApiError(
        404,
        'invalid_request_error',
        `No such price or lookup key: '${ref}'`,
        'resource_missing',
        'price',
      );
    return price;
  };

  const customerForUser = (userId: string): Stripe.Customer | undefined =>
    state
      .sorted([...state.customers.values()])
      .find((customer) => customer.metadata.user_id === userId);

  // ---- hosted checkout -----------------------------------------------------------------

  router.get('/checkout/:id', (req, res) => {
    const session = state.checkoutSessions.get(req.params.id);
    res.set('Cache-Control', 'no-store');
    if (!session) {
      res.status(404).type('html').send(notFoundPage(req.params.id));
      return;
    }
    res.type('html').send(checkoutPage(state, session));
  });

  router.post('/checkout/:id/pay', (req, res) => {
    const session = state.checkoutSessions.get(req.params.id);
    if (!session) {
      res.status(404).type('html').send(notFoundPage(req.params.id));
      return;
    }
    // A second click (or a reload of the POST) lands on the success page, not an error.
    if (session.status === 'open') state.completeCheckoutSession(session.id);
    res.redirect(303, successRedirect(session));
  });

  // ---- hosted customer portal -----------------------------------------------------------

  router.get('/billing-portal/:id', (req, res) => {
    const session = billingPortal(state).sessions.get(req.params.id);
    res.set('Cache-Control', 'no-store');
    if (!session) {
      res.status(404).type('html').send(portalNotFoundPage(req.params.id));
      return;
    }
    res.type('html').send(portalPage(state, session));
  });

  router.post('/billing-portal/:id/payment-method', (req, res) => {
    const session = billingPortal(state).sessions.get(req.params.id);
    if (!session) {
      res.status(404).type('html').send(portalNotFoundPage(req.params.id));
      return;
    }
    // The new card works: later charges succeed and the open invoices are paid now (their
    // invoice.paid webhooks bring a past_due subscription back to active).
    state.setCardDeclines(session.customer, false);
    for (const invoice of openInvoices(state, session.customer)) state.payInvoice(invoice.id);
    if (session.return_url) {
      res.redirect(303, session.return_url);
      return;
    }
    res.type('html').send(portalPage(state, session, 'Card updated.'));
  });

  // ---- /_simulator JSON API ------------------------------------------------------------

  router.get('/_simulator/status', (_req, res) => {
    const subscriptions = [...state.subscriptions.values()];
    res.json({
      simulator: true,
      webhooks: webhooks.stats(),
      counts: {
        customers: state.customers.size,
        subscriptions: subscriptions.length,
        liveSubscriptions: subscriptions.filter((s) => isLiveSubscriptionStatus(s.status)).length,
        invoices: state.invoices.size,
        events: state.events.size,
        failedDeliveries: state.failedDeliveries.size,
      },
    });
  });

  router.get('/_simulator/events', (req, res) => {
    const limit = Math.min(500, Math.max(1, Number(req.query.limit) || 50));
    const events = [...state.events.values()].slice(-limit).reverse();
    res.json({
      events: events.map((event) => ({
        ...eventSummary(event),
        deliveryFailed: state.failedDeliveries.has(event.id),
      })),
      attempts: webhooks.attemptLog().slice(-limit),
    });
  });

  router.get('/_simulator/customers', (req, res) => {
    const userId = typeof req.query.userId === 'string' ? req.query.userId : undefined;
    const customers = state
      .sorted([...state.customers.values()])
      .filter((customer) => userId === undefined || customer.metadata.user_id === userId)
      .slice(0, 100);
    res.json({
      customers: customers.map((customer) => ({
        id: customer.id,
        email: customer.email,
        userId: customer.metadata.user_id ?? null,
        cardDeclines: state.cardDeclines(customer.id),
        subscriptions: state
          .sorted([...state.subscriptions.values()].filter((s) => s.customer === customer.id))
          .map((s) => ({
            id: s.id,
            status: s.status,
            price: s.items.data[0]?.price.id ?? null,
            latestInvoice: s.latest_invoice,
          })),
      })),
    });
  });

  router.post('/_simulator/checkout/:id/complete', (req, res) => {
    const { result, events } = capture(state, () => state.completeCheckoutSession(req.params.id));
    const subscription =
      typeof result.subscription === 'string'
        ? state.subscriptions.get(result.subscription)
        : undefined;
    const invoice =
      typeof result.invoice === 'string' ? state.invoices.get(result.invoice) : undefined;
    res.json({
      session: result,
      subscription: subscription ?? null,
      invoice: invoice ?? null,
      events: events.map(eventSummary),
    });
  });

  router.post('/_simulator/subscriptions', json, (req, res) => {
    const body = parseBody(subscriptionBody, req);
    const price = priceFor(body.price);
    const { result, events } = capture(state, () => {
      const customer =
        customerForUser(body.userId) ??
        state.createCustomer({
          userId: body.userId,
          email:
            body.email ?? `${body.userId.toLowerCase().replace(/[^a-z0-9._-]/g, '-')}@example.com`,
        });
      const subscription = state.createSubscription({
        customer: customer.id,
        items: [{ price: price.id }],
        metadata: { user_id: body.userId },
        paymentFails: body.paymentFails,
      });
      return { customer, subscription };
    });
    const invoice =
      typeof result.subscription.latest_invoice === 'string'
        ? state.invoices.get(result.subscription.latest_invoice)
        : undefined;
    res.json({ ...result, invoice: invoice ?? null, events: events.map(eventSummary) });
  });

  router.post('/_simulator/subscriptions/:id/renew', json, (req, res) => {
    const body = parseBody(renewBody, req);
    const { result, events } = capture(state, () =>
      state.renewSubscription(req.params.id as string, body),
    );
    res.json({ ...result, events: events.map(eventSummary) });
  });

  router.post('/_simulator/subscriptions/:id/recover', (req, res) => {
    const subscription = state.getSubscription(req.params.id);
    const customer = String(subscription.customer);
    const { result, events } = capture(state, () => {
      // The customer updates their card; Stripe's next retry of the open invoice succeeds.
      state.setCardDeclines(customer, false);
      const latest =
        typeof subscription.latest_invoice === 'string'
          ? state.invoices.get(subscription.latest_invoice)
          : undefined;
      if (latest?.status !== 'open') {
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `Subscription ${subscription.id} has no open invoice to pay.`,
        );
      }
      return state.payInvoice(latest.id);
    });
    res.json({ subscription, invoice: result, events: events.map(eventSummary) });
  });

  router.post('/_simulator/customers/:id/card', json, (req, res) => {
    const body = parseBody(cardBody, req);
    state.setCardDeclines(req.params.id as string, body.declines);
    res.json({ customer: req.params.id, cardDeclines: body.declines });
  });

  router.post('/_simulator/renewals', json, (req, res) => {
    const body = parseBody(renewalsBody, req);
    const ids =
      body.subscriptions ??
      [...state.subscriptions.values()]
        .filter((s) => isLiveSubscriptionStatus(s.status))
        .map((s) => s.id);
    const failing = new Set(body.failing ?? []);
    const { result, events } = capture(state, () =>
      ids.map((id) => {
        try {
          const { subscription, invoice } = state.renewSubscription(
            id,
            failing.has(id) ? { paymentFails: true } : {},
          );
          return {
            id,
            status: subscription.status,
            invoice: invoice?.id ?? null,
            invoiceStatus: invoice?.status ?? null,
          };
        } catch (error) {
          return { id, error: (error as Error).message };
        }
      }),
    );
    res.json({ renewals: result, events: events.length });
  });

  router.post('/_simulator/webhooks/redeliver', json, (req, res) => {
    const body = parseBody(redeliverBody, req);
    res.json({ redelivered: deps.redeliver(body.eventIds).map(eventSummary) });
  });

  router.get('/', (_req, res) => {
    res
      .type('text')
      .send(
        'Stripe simulator: the Stripe API under /v1, helpers under /_simulator (see GET /_simulator/status).\n',
      );
  });

  const errors: ErrorRequestHandler = (error, _req, res, _next) => {
    if (error instanceof StripeApiError) {
      res.status(error.status).json(error.toBody());
      return;
    }
    const status = typeof error?.status === 'number' && error.status < 500 ? error.status : 500;
    res.status(status).json({
      error: {
        type: status < 500 ? 'invalid_request_error' : 'api_error',
        message: String(error?.message ?? error),
      },
    });
  };
  router.use(errors);
  return router;
}
