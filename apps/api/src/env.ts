import {
  ConfigError,
  dbEnv,
  type Env,
  isProduction,
  parseEnv,
  plansEnv,
  port,
  positiveInt,
  processEnv,
  productionSecret,
  redisEnv,
  serviceTokenEnv,
  stripeEnvSchema,
} from '@billing/config';
import { httpServerEnv, type ServerLimits } from '@billing/runtime';
import { z } from 'zod';
import { DEFAULT_TARGETS, type LatencyTargets, parseTargets } from './monitoring/targets.js';

const optionalSecret = (name: string, production: boolean) =>
  productionSecret(name, production).optional();

/** Comma-separated origins (`https://host[:port]`), normalised; unset or empty → []. */
export const originList = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const origins: string[] = [];
    if (!value) return origins;
    for (const part of value
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      try {
        origins.push(new URL(part).origin);
      } catch {
        ctx.addIssue({ code: 'custom', message: `"${part}" is not an origin (https://host)` });
        return z.NEVER;
      }
    }
    return origins;
  });

/** API-only settings; the shared ones come from @billing/config's schemas. */
export const apiEnvSchema = (production: boolean) =>
  z.object({
    API_PORT: port(3001),
    /** Internal port of /metrics and /readyz (bound to METRICS_HOST, loopback by default). */
    API_METRICS_PORT: port(9401),
    /** The ops surfaces (/ops, /api/ops) also accept this token. Unset: service token only. */
    OPS_TOKEN: optionalSecret('OPS_TOKEN', production),
    /** Failed authentications per client address and window before 429. */
    API_AUTH_FAILURE_LIMIT: positiveInt(20),
    API_AUTH_FAILURE_WINDOW_MS: positiveInt(60_000),
    /** Proxy hops in front of the API (load balancer = 1), so the client address is right. */
    API_TRUST_PROXY: z.coerce.number().int().min(0).default(0),
    /** Largest JSON body accepted. */
    API_BODY_LIMIT_BYTES: positiveInt(100 * 1024),
    /** Fixed-window rate limit per credential. */
    API_RATE_LIMIT_WINDOW_MS: positiveInt(60_000),
    /** Requests per window for an API key (one user). */
    API_RATE_LIMIT_USER: positiveInt(600),
    /** Requests per window for the service token (the SaaS backend, all users). */
    API_RATE_LIMIT_SERVICE: positiveInt(60_000),
    /** Requests per window for the ops token. */
    API_RATE_LIMIT_OPS: positiveInt(600),
    /**
     * Response-time targets, `name=ms` pairs: names `subscription`, `usage`, `upgrade`,
     * `checkout`, `default`, or a route such as `GET /api/billing/plans`.
     */
    API_LATENCY_TARGETS: z
      .string()
      .optional()
      .transform((value, ctx) => {
        try {
          return parseTargets(value);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
          return z.NEVER;
        }
      }),
    /** How often per-minute request statistics are written to api_metrics. */
    API_METRICS_FLUSH_MS: positiveInt(10_000),
    /** In-process (L1) cache entries. 0 turns L1 off. */
    CACHE_L1_MAX: z.coerce.number().int().nonnegative().default(10_000),
    /** The SaaS app's origin: where Checkout sends customers back by default. */
    APP_ORIGIN: originList,
    /** Further origins checkout success/cancel URLs may use (comma-separated). */
    CHECKOUT_ALLOWED_ORIGINS: originList,
    /**
     * Where Stripe's customer portal sends the customer back (`return_url`) when the caller of
     * POST /api/billing/portal-session names no `returnUrl`. Empty counts as unset.
     */
    BILLING_PORTAL_RETURN_URL: z
      .string()
      .optional()
      .transform((value, ctx) => {
        if (!value) return undefined;
        try {
          const url = new URL(value);
          if (url.protocol === 'https:' || url.protocol === 'http:') return url.href;
        } catch {
          // reported below
        }
        ctx.addIssue({ code: 'custom', message: `"${value}" is not an absolute http(s) URL` });
        return z.NEVER;
      }),
    /** Budget for draining in-flight requests on SIGTERM. */
    API_SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
  });

export interface ApiConfig {
  port: number;
  /** API_METRICS_PORT on METRICS_HOST: /metrics and /readyz with reasons. */
  metricsPort: number;
  metricsHost: string;
  /** HTTP_* timeouts and connection cap of the public server. */
  server: ServerLimits;
  databaseUrl: string;
  dbPoolMax: number;
  redisUrl: string;
  redisPrefix: string;
  serviceToken: string;
  opsToken: string | undefined;
  /** Undefined outside production when no key is set: Stripe-backed routes answer 503. */
  stripeSecretKey: string | undefined;
  stripeApiBase: string | undefined;
  plansFile: string;
  bodyLimitBytes: number;
  rateLimit: { windowMs: number; user: number; service: number; ops: number };
  latencyTargets: LatencyTargets;
  metricsFlushMs: number;
  l1Max: number;
  authFailures: { limit: number; windowMs: number };
  trustProxy: number;
  /** APP_ORIGIN then CHECKOUT_ALLOWED_ORIGINS. */
  checkoutAllowedOrigins: string[];
  /** Outside production, loopback origins (any port) are allowed too. */
  checkoutAllowLoopback: boolean;
  /** Default `return_url` of customer portal sessions. */
  billingPortalReturnUrl: string | undefined;
  shutdownTimeoutMs: number;
}

/** Parses the API configuration; throws a ConfigError naming every bad variable. */
export function loadApiConfig(env: Env = processEnv()): ApiConfig {
  const production = isProduction(env);
  const api = parseEnv(apiEnvSchema(production), env, 'api');
  if (production && api.APP_ORIGIN.length === 0 && api.CHECKOUT_ALLOWED_ORIGINS.length === 0) {
    // Otherwise every checkout would be refused: say so at start-up, not per request.
    throw new ConfigError(
      'invalid api configuration: APP_ORIGIN: is required in production (where checkout returns customers)',
      ['APP_ORIGIN: is required in production'],
    );
  }
  const db = dbEnv(env);
  const redis = redisEnv(env);
  const auth = serviceTokenEnv(env);
  const stripe = parseEnv(
    stripeEnvSchema(production).pick({ STRIPE_SECRET_KEY: true, STRIPE_API_BASE: true }),
    env,
    'stripe',
  );
  const plans = plansEnv(env);
  const http = httpServerEnv(env);
  return {
    port: api.API_PORT,
    metricsPort: api.API_METRICS_PORT,
    metricsHost: http.metricsHost,
    server: http.limits,
    databaseUrl: db.DATABASE_URL,
    dbPoolMax: db.DB_POOL_MAX,
    redisUrl: redis.REDIS_URL,
    redisPrefix: redis.REDIS_PREFIX,
    serviceToken: auth.BILLING_SERVICE_TOKEN,
    opsToken: api.OPS_TOKEN,
    stripeSecretKey: stripe.STRIPE_SECRET_KEY,
    stripeApiBase: stripe.STRIPE_API_BASE,
    plansFile: plans.PLANS_FILE,
    bodyLimitBytes: api.API_BODY_LIMIT_BYTES,
    rateLimit: {
      windowMs: api.API_RATE_LIMIT_WINDOW_MS,
      user: api.API_RATE_LIMIT_USER,
      service: api.API_RATE_LIMIT_SERVICE,
      ops: api.API_RATE_LIMIT_OPS,
    },
    latencyTargets: api.API_LATENCY_TARGETS ?? DEFAULT_TARGETS,
    metricsFlushMs: api.API_METRICS_FLUSH_MS,
    l1Max: api.CACHE_L1_MAX,
    authFailures: { limit: api.API_AUTH_FAILURE_LIMIT, windowMs: api.API_AUTH_FAILURE_WINDOW_MS },
    trustProxy: api.API_TRUST_PROXY,
    checkoutAllowedOrigins: [...api.APP_ORIGIN, ...api.CHECKOUT_ALLOWED_ORIGINS],
    checkoutAllowLoopback: !production,
    billingPortalReturnUrl: api.BILLING_PORTAL_RETURN_URL,
    shutdownTimeoutMs: api.API_SHUTDOWN_TIMEOUT_MS,
  };
}
