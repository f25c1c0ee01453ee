import type { PlanList } from '@billing/config';
import type { Logger } from '@billing/logger';
import { sameOriginGate } from '@billing/runtime';
import {
  billingPortal,
  type FakeStripe,
  FakeStripeState,
  startFakeStripe,
} from '@billing/stripe-fake';
import express from 'express';
import { ensureCatalogue } from './catalogue.js';
import { controlRouter } from './control.js';
import { loadState, type StateWriter, stateWriter } from './persist.js';
import { WebhookSender, type WebhookSenderOptions } from './webhooks.js';

/**
 * The Stripe simulator: the fake Stripe API (`/v1/…`, the `stripe` client points at it with
 * STRIPE_API_BASE), a hosted Checkout page and customer portal, `/_simulator` helpers, and a webhook sender that
 * delivers every event the account records, signed, to the ingress. Used by `npm start`
 * without a Stripe key (main.ts) and in-process by browser and end-to-end tests.
 */
/** Events kept in memory (`GET /v1/events`); older ones are dropped. */
const MAX_EVENTS = 10_000;

export interface SimulatorOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Base URL browsers use for the hosted checkout page. Default `http://<host>:<port>`. */
  publicUrl?: string;
  /**
   * Origins (besides loopback and `publicUrl`) whose pages may use the checkout page and the
   * `/_simulator` routes. Default: the compose service name, `http://stripe-simulator:<port>`.
   */
  allowedOrigins?: string[];
  /** Where webhooks go, e.g. `http://127.0.0.1:3000/webhooks/stripe`. */
  webhookUrl: string;
  /** The endpoint's signing secret (the first of STRIPE_WEBHOOK_SECRETS). */
  webhookSecret: string;
  /** Products and prices to create at start (what is missing). */
  catalogue?: PlanList;
  /** Keep the account in this file across restarts. Default: in memory only. */
  stateFile?: string;
  logger: Logger;
  webhooks?: Pick<WebhookSenderOptions, 'maxAttempts' | 'backoffMs' | 'timeoutMs' | 'concurrency'>;
}

export interface RunningSimulator {
  /** e.g. http://127.0.0.1:12111: STRIPE_API_BASE for the apps. */
  url: string;
  port: number;
  state: FakeStripeState;
  fake: FakeStripe;
  webhooks: WebhookSender;
  /** Resolves when every event so far has been delivered (or given up); false on timeout. */
  idle(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The shared same-origin gate, fitted to the simulator's clients. The scenarios, tests and
 * curl are not browsers: they send neither `Origin` nor `Sec-Fetch-Site`, which a browser
 * page cannot omit on a POST, so such a request counts as same-origin (Host and JSON are
 * still checked). The hosted checkout page's Pay button and the portal's Update card are plain
 * HTML forms (no script), so their POST is held to the rules of a read (Host, no cross-site Origin) plus a required
 * `Origin`, which every browser sends on a form POST.
 */
/** The plain HTML forms the simulator serves: checkout's Pay and the portal's Update card. */
const FORM_POSTS = /^\/(checkout\/[^/]+\/pay|billing-portal\/[^/]+\/payment-method)$/;

function simulatorGate(gate: express.RequestHandler): express.RequestHandler {
  return (req, res, next) => {
    const browser = req.headers.origin !== undefined || req.headers['sec-fetch-site'] !== undefined;
    if (req.method === 'POST' && FORM_POSTS.test(req.path)) {
      if (browser && req.headers.origin === undefined) {
        res.status(403).json({
          error: { code: 'forbidden', rule: 'origin', message: 'a form POST needs an Origin' },
        });
        return;
      }
      // A view of the request as a read: the gate's Host and cross-site rules, not its JSON rule.
      gate(Object.create(req, { method: { value: 'GET' } }), res, next);
      return;
    }
    if (!browser) req.headers['sec-fetch-site'] = 'same-origin';
    gate(req, res, next);
  };
}

export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const { logger } = options;
  let publicUrl = options.publicUrl?.replace(/\/$/, '');
  const stateOptions = {
    checkoutUrl: (id: string) => `${publicUrl}/checkout/${encodeURIComponent(id)}`,
    maxEvents: MAX_EVENTS,
  };
  const state = options.stateFile
    ? loadState(options.stateFile, stateOptions, logger)
    : new FakeStripeState(stateOptions);
  billingPortal(state).hostedAt = (id) => `${publicUrl}/billing-portal/${encodeURIComponent(id)}`;
  const writer: StateWriter | undefined = options.stateFile
    ? stateWriter(options.stateFile, state, logger)
    : undefined;

  const webhooks = new WebhookSender({
    ...options.webhooks,
    url: options.webhookUrl,
    secret: options.webhookSecret,
    logger,
    onDelivered: (event) => {
      if (state.failedDeliveries.delete(event.id)) writer?.changed();
    },
    onGiveUp: (event) => {
      state.failedDeliveries.add(event.id);
      writer?.changed();
    },
  });
  // Every change the account records goes out as a webhook, in order.
  const unsubscribe = state.subscribe((event) => {
    webhooks.enqueue(event);
    writer?.changed();
  });

  const control = express();
  control.disable('x-powered-by');
  // The checkout page and /_simulator act with the account's full powers and no key, so a
  // page on another site (or a DNS-rebinding name for 127.0.0.1) must not reach them.
  const gate = sameOriginGate({
    origins: [
      ...(options.publicUrl ? [new URL(options.publicUrl).origin] : []),
      ...(options.allowedOrigins ?? [`http://stripe-simulator:${options.port || 12111}`]),
    ],
  });
  control.use(simulatorGate(gate));
  control.use(
    controlRouter({
      state,
      webhooks,
      redeliver: (eventIds) => {
        const ids = eventIds ?? [...state.failedDeliveries];
        const events = ids.flatMap((id) => {
          const event = state.events.get(id);
          return event ? [event] : [];
        });
        for (const event of events) webhooks.enqueue(event);
        return events;
      },
    }),
  );

  const fake = await startFakeStripe({
    state,
    port: options.port ?? 0,
    host: options.host ?? '127.0.0.1',
    secretKey: 'sk_test_simulator',
    extension: (req, res, next) => control(req as express.Request, res as express.Response, next),
    // A long-running process must not keep every request it ever served.
    maxRecordedRequests: 1_000,
    onResponse: (request) => {
      if (request.method !== 'GET') writer?.changed();
    },
  });
  publicUrl ??= fake.url;

  // The plan catalogue's products and prices (their events go out like any other change).
  if (options.catalogue) {
    const setup = ensureCatalogue(state, options.catalogue);
    logger.info(
      {
        created: setup.created.map((price) => price.lookup_key ?? price.id),
        existing: setup.existing.map((price) => price.lookup_key ?? price.id),
      },
      'plan catalogue prices ready',
    );
  }

  logger.info({ url: fake.url, webhookUrl: options.webhookUrl }, 'stripe simulator listening');
  return {
    url: fake.url,
    port: fake.port,
    state,
    fake,
    webhooks,
    idle: (timeoutMs) => webhooks.idle(timeoutMs),
    async close() {
      unsubscribe();
      await webhooks.close();
      await fake.close();
      writer?.flush();
    },
  };
}
