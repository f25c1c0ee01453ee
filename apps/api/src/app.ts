import type { TieredCache } from '@billing/cache';
import type { PlanList } from '@billing/config';
import type { Database, Sql } from '@billing/db';
import type { Logger } from '@billing/logger';
import type { OpsCredentials } from '@billing/ops';
import type { RedisClient } from '@billing/redis';
import {
  declaredLengthLimit,
  errorHandler,
  internalApp,
  notFoundHandler,
  publicHealthRouter,
  withTimeout,
} from '@billing/runtime';
import type { Stripe } from '@billing/stripe';
import { getUsageSnapshot, type UsageConfig } from '@billing/usage';
import type { Queue } from 'bullmq';
import express, { type RequestHandler, type Router } from 'express';
import type { Registry } from 'prom-client';
import { authenticate, requireOps } from './auth/middleware.js';
import { authFailureThrottle, rateLimit } from './auth/rate-limit.js';
import { BillingActions } from './billing/actions.js';
import { PlanDirectory } from './billing/plan-directory.js';
import { BillingReads, type UsageSnapshotFn } from './billing/reads.js';
import { bodyErrors, jsonBody } from './http/body.js';
import { markRouteBase, timeRequests } from './monitoring/middleware.js';
import { RequestRecorder } from './monitoring/recorder.js';
import { DEFAULT_TARGETS, type LatencyTargets } from './monitoring/targets.js';
import { buildOpenApi } from './openapi.js';
import { type OpsDeps, opsApiRouter } from './ops/index.js';
import { queueDashboard } from './ops/queue-dashboard.js';
import { billingRouter } from './routes/billing.js';
import { usageRouter } from './routes/usage.js';

export interface ApiAppConfig {
  serviceToken: string;
  opsToken?: string;
  redisPrefix: string;
  bodyLimitBytes?: number;
  /** Body limit of POST /api/usage (up to 1,000 records). */
  usageBodyLimitBytes?: number;
  rateLimit?: { windowMs: number; user: number; service: number; ops: number };
  latencyTargets?: LatencyTargets;
  metricsFlushMs?: number;
  /** Origins checkout may redirect to (APP_ORIGIN + CHECKOUT_ALLOWED_ORIGINS). */
  checkoutAllowedOrigins?: string[];
  /** Also loopback origins (development only). Default false. */
  checkoutAllowLoopback?: boolean;
  /** Default `return_url` of customer portal sessions (BILLING_PORTAL_RETURN_URL). */
  billingPortalReturnUrl?: string;
  /** How long an API key lookup is trusted in process (revocation latency). */
  keyCacheTtlMs?: number;
  readyTimeoutMs?: number;
  /** Failed authentications per client address and window before 429 (default 20 / 60 s). */
  authFailures?: { limit: number; windowMs: number };
  /** Proxy hops in front of the app, so req.ip is the client's address (default 0). */
  trustProxy?: number;
}

export interface ApiDeps {
  config: ApiAppConfig;
  planList: PlanList;
  db: Database;
  sql: Sql;
  /** Cache-role connection: cache L2, rate limits, usage limits. */
  redis: RedisClient;
  cache: TieredCache;
  /** Undefined when STRIPE_SECRET_KEY is not set: Stripe-backed routes answer 503. */
  stripe: Stripe | undefined;
  logger: Logger;
  registry: Registry;
  usageConfig?: UsageConfig;
  /** Defaults to @billing/usage's getUsageSnapshot. */
  usageSnapshot?: UsageSnapshotFn;
  isShuttingDown?: () => boolean;
  now?: () => number;
  /**
   * A Redis connection for subscribing only: API key revocations announced on it drop the
   * key from this instance's cache at once. Without it a revoked key works until its cache
   * entry expires (keyCacheTtlMs).
   */
  revocationSubscriber?: RedisClient;
  /**
   * More routers (e.g. the billing page at `/billing`), mounted after the built-in ones:
   * `public` (no auth), `authenticated` (bearer auth + rate limit, `req.auth` set) or `ops`
   * (also `requireOps`). Routes under `/api` must be documented in openapi.ts.
   */
  extraMounts?: ExtraMount[];
  /**
   * Queue handles for the ops surfaces: the dashboard at `/ops/queues` (every queue) and the
   * dead letters of `stripe-events` under `/api/ops`.
   */
  ops?: { queues: Queue[]; stripeEventsQueue: Queue; credentials: OpsCredentials };
  /**
   * Human-facing pages outside `/api` (the billing page at `/billing`), mounted at the root
   * with their own access rules; not part of the OpenAPI document.
   */
  pages?: Router[];
}

export interface ExtraMount {
  base: string;
  router: Router;
  access: 'public' | 'authenticated' | 'ops';
}

export interface RouteInfo {
  method: string;
  path: string;
}

export interface ApiApp {
  app: express.Express;
  /** The internal port's app (API_METRICS_PORT): /metrics and /readyz with its reason. */
  internal: express.Express;
  /** Start its timer after listening; `stop()` (flushes) on shutdown. */
  recorder: RequestRecorder;
  directory: PlanDirectory;
  reads: BillingReads;
  actions: BillingActions;
  /** Every route served under the routers mounted here (for the OpenAPI check). */
  routes(): RouteInfo[];
}

/** 1,000 records of a few hundred bytes each. */
const DEFAULT_USAGE_BODY_LIMIT = 1024 * 1024;
const DEFAULT_AUTH_FAILURES = { limit: 20, windowMs: 60_000 };
const DEFAULT_RATE_LIMIT = { windowMs: 60_000, user: 600, service: 60_000, ops: 600 };

/**
 * The billing API as an Express app, built from its dependencies (no globals, no env), so
 * tests build it against their own database, Redis prefix and fake Stripe server.
 */
export function createApiApp(deps: ApiDeps): ApiApp {
  const { config, logger, registry } = deps;
  const now = deps.now ?? Date.now;
  const log = logger.child({ module: 'api' });
  const bodyLimit = config.bodyLimitBytes ?? 100 * 1024;
  const targets = config.latencyTargets ?? DEFAULT_TARGETS;

  const recorder = new RequestRecorder({
    db: deps.db,
    logger,
    registry,
    targets,
    flushIntervalMs: config.metricsFlushMs ?? 10_000,
    now,
  });
  const directory = new PlanDirectory({
    planList: deps.planList,
    db: deps.db,
    cache: deps.cache,
    stripe: deps.stripe,
    logger,
  });
  const reads = new BillingReads({
    sql: deps.sql,
    cache: deps.cache,
    directory,
    logger,
    usageSnapshot: deps.usageSnapshot ?? getUsageSnapshot,
    usageConfig: deps.usageConfig,
    now,
  });
  const actions = new BillingActions({
    sql: deps.sql,
    cache: deps.cache,
    directory,
    stripe: deps.stripe,
    logger,
    checkoutAllowedOrigins: config.checkoutAllowedOrigins,
    checkoutAllowLoopback: config.checkoutAllowLoopback,
    billingPortalReturnUrl: config.billingPortalReturnUrl,
    now,
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  if (config.trustProxy) app.set('trust proxy', config.trustProxy);
  const throttle = authFailureThrottle({
    redis: deps.redis,
    prefix: config.redisPrefix,
    registry,
    now,
    ...(config.authFailures ?? DEFAULT_AUTH_FAILURES),
  });

  // Ready when Postgres answers. Redis is not required: reads degrade to Postgres.
  const ready = async () => {
    const timeoutMs = config.readyTimeoutMs ?? 1_000;
    try {
      await withTimeout(
        deps.sql`select 1`,
        timeoutMs,
        () => new Error(`no answer within ${timeoutMs} ms`),
      );
    } catch (error) {
      throw new Error(`postgres unreachable: ${(error as Error).message}`);
    }
  };
  const internal = internalApp({ registry, isShuttingDown: deps.isShuttingDown, ready });

  app.use(timeRequests(recorder));
  // Public probes only (bare 200/503, no /metrics): the detail is on `internal`.
  app.use(publicHealthRouter({ isShuttingDown: deps.isShuttingDown, ready }));
  // A declared body larger than any route accepts is refused before a byte is read.
  app.use(
    declaredLengthLimit(
      Math.max(bodyLimit, config.usageBodyLimitBytes ?? DEFAULT_USAGE_BODY_LIMIT),
    ),
  );

  const openapi = buildOpenApi();
  app.get('/api/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  // Every /api route but the document: who is calling, then how often.
  const guard: RequestHandler[] = [
    authenticate({
      db: deps.db,
      logger,
      serviceToken: config.serviceToken,
      opsToken: config.opsToken,
      keyCacheTtlMs: config.keyCacheTtlMs,
      revocations: deps.revocationSubscriber
        ? { subscriber: deps.revocationSubscriber, prefix: config.redisPrefix }
        : undefined,
      throttle,
      now,
    }),
    rateLimit({
      redis: deps.redis,
      prefix: config.redisPrefix,
      logger,
      registry,
      windowMs: (config.rateLimit ?? DEFAULT_RATE_LIMIT).windowMs,
      limits: config.rateLimit ?? DEFAULT_RATE_LIMIT,
      now,
    }),
  ];

  const opsDeps: OpsDeps = {
    db: deps.db,
    sql: deps.sql,
    redis: deps.redis,
    redisPrefix: config.redisPrefix,
    logger,
    registry,
    recorder,
    latencyTargets: targets,
    now,
    deadLetters: deps.ops
      ? { stripeEventsQueue: deps.ops.stripeEventsQueue, credentials: deps.ops.credentials }
      : undefined,
  };

  // The queue dashboard sits outside the bearer guard below: a browser logs in to it with
  // basic auth (OPS_BASIC_USER/PASSWORD), which the dashboard's own auth checks, as well as
  // the service or ops bearer token.
  if (deps.ops) {
    app.use(
      '/ops/queues',
      markRouteBase,
      queueDashboard({ queues: deps.ops.queues, credentials: deps.ops.credentials, throttle }),
    );
  }

  const mounts: { base: string; router: Router; extra: RequestHandler[] }[] = [
    {
      base: '/api/billing',
      router: billingRouter({ reads, actions, directory, jsonBody: jsonBody(bodyLimit) }),
      extra: [],
    },
    {
      base: '/api/usage',
      router: usageRouter({
        sql: deps.sql,
        redis: deps.redis,
        prefix: config.redisPrefix,
        logger,
        metrics: [...directory.metrics],
        resolvePlanLimits: (userId) => reads.planLimits(userId),
        invalidateUsage: async (userIds) => {
          await deps.cache.invalidateUsers(userIds, 'usage');
        },
        config: deps.usageConfig,
        jsonBody: jsonBody(config.usageBodyLimitBytes ?? DEFAULT_USAGE_BODY_LIMIT),
        now: () => new Date(now()),
      }),
      extra: [],
    },
    // Ops mount points: see ops/index.ts.
    { base: '/api/ops', router: opsApiRouter(opsDeps), extra: [requireOps] },
  ];
  for (const mount of mounts) {
    app.use(mount.base, markRouteBase, ...guard, ...mount.extra, mount.router);
  }
  for (const mount of deps.extraMounts ?? []) {
    const access =
      mount.access === 'public' ? [] : mount.access === 'ops' ? [...guard, requireOps] : guard;
    app.use(mount.base, markRouteBase, ...access, mount.router);
  }

  for (const page of deps.pages ?? []) app.use(page);

  app.use(notFoundHandler);
  app.use(bodyErrors(bodyLimit));
  app.use(errorHandler(log));

  return {
    app,
    internal,
    recorder,
    directory,
    reads,
    actions,
    routes: () => [
      { method: 'GET', path: '/api/openapi.json' },
      ...[...mounts, ...(deps.extraMounts ?? [])].flatMap((mount) =>
        routesOf(mount.router, mount.base),
      ),
    ],
  };
}

interface LayerLike {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: LayerLike[] };
  rawPath?: unknown;
}

/** The method + path of every route in a router, recursing into routers mounted at its root. */
function routesOf(router: Router, base: string): RouteInfo[] {
  const out: RouteInfo[] = [];
  for (const layer of (router as unknown as { stack: LayerLike[] }).stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const path of paths) {
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== '_all') {
            out.push({ method: method.toUpperCase(), path: `${base}${path === '/' ? '' : path}` });
          }
        }
      }
    } else if (layer.handle?.stack) {
      const mountedAt =
        typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      out.push(...routesOf(layer.handle as unknown as Router, `${base}${mountedAt}`));
    }
  }
  return out;
}
