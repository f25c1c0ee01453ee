import express, { type Request, type RequestHandler, type Router } from 'express';
import { actingUserId } from '../auth/context.js';
import type { BillingActions } from '../billing/actions.js';
import { clientIdempotencyKey } from '../billing/idempotency.js';
import type { PlanDirectory } from '../billing/plan-directory.js';
import { type BillingReads, DEFAULT_METRIC, type UsageView } from '../billing/reads.js';
import {
  checkoutBody,
  plansQuery,
  portalSessionBody,
  prorationQuery,
  upgradeBody,
  usageQuery,
  userBody,
  userQuery,
} from '../http/schemas.js';
import { fieldError, parseInput } from '../http/validation.js';

export interface BillingRouterDeps {
  reads: BillingReads;
  actions: BillingActions;
  directory: PlanDirectory;
  /** Parses a bounded JSON body (see http/body.ts). */
  jsonBody: RequestHandler;
}

/** Acts for the user named by the credential (and `userId`); noted for slow-request records. */
function actFor(req: Request, requested: string | undefined): string {
  const userId = actingUserId(req, requested);
  req.res!.locals.userId = userId;
  return userId;
}

/** `/api/billing/*`. Every route is authenticated by the app (req.auth is set). */
export function billingRouter(deps: BillingRouterDeps): Router {
  const { reads, actions, directory, jsonBody } = deps;
  const router = express.Router();
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  const checkMetric = (metric: string): void => {
    if (!directory.metrics.has(metric)) {
      throw fieldError(
        'metric',
        `unknown metric "${metric}" (metrics: ${[...directory.metrics].join(', ')})`,
        'query',
        'unknown_metric',
      );
    }
  };

  router.get('/subscription', async (req, res) => {
    const query = parseInput(userQuery, req.query, 'query');
    const userId = actFor(req, query.userId);
    res.json({ subscription: await reads.subscription(userId) });
  });

  router.get('/usage', async (req, res) => {
    const query = parseInput(usageQuery, req.query, 'query');
    const metric = query.metric ?? DEFAULT_METRIC;
    checkMetric(metric);
    const userId = actFor(req, query.userId);
    const usage: UsageView = await reads.usage(userId, metric);
    res.json(usage);
  });

  router.get('/plans', async (req, res) => {
    const query = parseInput(plansQuery, req.query, 'query');
    // Plans are the same for everyone; a named user is still checked against the credential.
    if (query.userId !== undefined) actFor(req, query.userId);
    res.json({ plans: await reads.plans(query.interval) });
  });

  router.get('/overview', async (req, res) => {
    const query = parseInput(userQuery, req.query, 'query');
    const userId = actFor(req, query.userId);
    const metrics = [...directory.metrics];
    const [plans, subscription, ended, ...usages] = await Promise.all([
      reads.plans(),
      reads.subscription(userId),
      reads.ended(userId),
      ...metrics.map((metric) => reads.usage(userId, metric)),
    ]);
    const usageByMetric = Object.fromEntries(metrics.map((metric, i) => [metric, usages[i]!]));
    const usage = usageByMetric[DEFAULT_METRIC] ?? usages[0];
    res.json({ plans, subscription, usage, usageByMetric, ended });
  });

  router.post('/create-checkout-session', jsonBody, async (req, res) => {
    const clientKey = clientIdempotencyKey(req.headers['idempotency-key']);
    const body = parseInput(checkoutBody, req.body, 'body');
    actions.paidPlan(body, 'body');
    const userId = actFor(req, body.userId);
    res.json(await actions.checkout(userId, body, clientKey));
  });

  router.post('/portal-session', jsonBody, async (req, res) => {
    const clientKey = clientIdempotencyKey(req.headers['idempotency-key']);
    const body = parseInput(portalSessionBody, req.body, 'body');
    const userId = actFor(req, body.userId);
    res.json(await actions.portalSession(userId, body, clientKey));
  });

  router.get('/proration-preview', async (req, res) => {
    const query = parseInput(prorationQuery, req.query, 'query');
    actions.paidPlan(query, 'query');
    const userId = actFor(req, query.userId);
    res.json(await actions.prorationPreview(userId, query));
  });

  router.post('/upgrade', jsonBody, async (req, res) => {
    const clientKey = clientIdempotencyKey(req.headers['idempotency-key']);
    const body = parseInput(upgradeBody, req.body, 'body');
    actions.paidPlan(body, 'body');
    const userId = actFor(req, body.userId);
    res.status(202).json(await actions.upgrade(userId, body, clientKey));
  });

  for (const [path, cancel] of [
    ['/cancel', true],
    ['/resume', false],
  ] as const) {
    router.post(path, jsonBody, async (req, res) => {
      const clientKey = clientIdempotencyKey(req.headers['idempotency-key']);
      const body = parseInput(userBody, req.body, 'body');
      const userId = actFor(req, body.userId);
      const result = await actions.setCancelAtPeriodEnd(userId, cancel, clientKey);
      res.status(result.status === 'pending_webhook' ? 202 : 200).json(result);
    });
  }

  return router;
}
