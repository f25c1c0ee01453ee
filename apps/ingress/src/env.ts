import {
  type Env,
  isProduction,
  parseEnv,
  port,
  positiveInt,
  processEnv,
  redisEnv,
  stripeEnvSchema,
} from '@billing/config';
import { httpServerEnv, type ServerLimits } from '@billing/runtime';
import { z } from 'zod';

/** Ingress-only settings. Everything else comes from the shared redis/stripe schemas. */
export const ingressEnvSchema = z.object({
  INGRESS_PORT: port(3000),
  /** Internal port of /metrics and /readyz (bound to METRICS_HOST, loopback by default). */
  INGRESS_METRICS_PORT: port(9400),
  /** Largest webhook body accepted; Stripe's own events are a few KiB, 1 MiB leaves room. */
  INGRESS_BODY_LIMIT_BYTES: positiveInt(1024 * 1024),
  /** How long one enqueue may take before the delivery is answered 503 (Stripe retries). */
  INGRESS_ENQUEUE_TIMEOUT_MS: positiveInt(2_000),
  /** Timeout of the Redis PING behind /readyz. */
  INGRESS_READY_TIMEOUT_MS: positiveInt(1_000),
  /** Budget for draining in-flight requests on SIGTERM before connections are cut. */
  INGRESS_SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
});

export interface IngressConfig {
  port: number;
  /** INGRESS_METRICS_PORT on METRICS_HOST: /metrics and /readyz with reasons. */
  metricsPort: number;
  metricsHost: string;
  /** HTTP_* timeouts and connection cap of the public server. */
  server: ServerLimits;
  redisUrl: string;
  /** REDIS_CLUSTER_NODES: connect to this Redis Cluster instead of redisUrl. */
  redisClusterNodes?: string[];
  redisPrefix: string;
  /** STRIPE_WEBHOOK_SECRETS in order; during a rotation both the old and the new one. */
  webhookSecrets: string[];
  toleranceSeconds: number;
  bodyLimitBytes: number;
  enqueueTimeoutMs: number;
  readyTimeoutMs: number;
  shutdownTimeoutMs: number;
}

/**
 * Parses the ingress configuration. The ingress verifies signatures only, so of the Stripe
 * settings it reads just the webhook secrets and tolerance: it needs no API key.
 * Throws a ConfigError naming every missing or malformed variable.
 */
export function loadIngressConfig(env: Env = processEnv()): IngressConfig {
  const ingress = parseEnv(ingressEnvSchema, env, 'ingress');
  const redis = redisEnv(env);
  const http = httpServerEnv(env);
  const stripe = parseEnv(
    stripeEnvSchema(isProduction(env)).pick({
      STRIPE_WEBHOOK_SECRETS: true,
      STRIPE_WEBHOOK_TOLERANCE_SECONDS: true,
    }),
    env,
    'stripe',
  );
  return {
    port: ingress.INGRESS_PORT,
    metricsPort: ingress.INGRESS_METRICS_PORT,
    metricsHost: http.metricsHost,
    server: http.limits,
    redisUrl: redis.REDIS_URL,
    redisClusterNodes: redis.REDIS_CLUSTER_NODES,
    redisPrefix: redis.REDIS_PREFIX,
    webhookSecrets: stripe.STRIPE_WEBHOOK_SECRETS,
    toleranceSeconds: stripe.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
    bodyLimitBytes: ingress.INGRESS_BODY_LIMIT_BYTES,
    enqueueTimeoutMs: ingress.INGRESS_ENQUEUE_TIMEOUT_MS,
    readyTimeoutMs: ingress.INGRESS_READY_TIMEOUT_MS,
    shutdownTimeoutMs: ingress.INGRESS_SHUTDOWN_TIMEOUT_MS,
  };
}
