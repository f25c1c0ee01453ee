import { type Env, parseEnv, positiveInt, processEnv } from '@billing/config';
import { z } from 'zod';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from './lifecycle.js';

/** Settings of the shutdown lifecycle of a worker process (createLifecycle). */
export const shutdownEnvSchema = z.object({
  /**
   * Deadline (ms) for the whole graceful shutdown after SIGTERM: in-flight jobs get until
   * then to finish, after which connections are closed by force and the process exits 1.
   * Keep it below the orchestrator's grace period (Kubernetes: 30 s by default).
   */
  SHUTDOWN_TIMEOUT_MS: positiveInt(DEFAULT_SHUTDOWN_TIMEOUT_MS),
});

export type ShutdownEnv = z.infer<typeof shutdownEnvSchema>;

export const shutdownEnv = (env: Env = processEnv()): ShutdownEnv =>
  parseEnv(shutdownEnvSchema, env, 'shutdown');

/**
 * Limits of a public HTTP server (`listen`). Defaults suit an app behind a load balancer
 * whose idle timeout is 60 s (AWS ALB, GCP): keep-alive outlasts it so the balancer never
 * reuses a socket the app just closed; a client gets 20 s for its headers and 30 s for the
 * whole request (a webhook or a 1,000-record usage batch is well under a second), so a
 * slow-body or slow-header client is cut instead of holding a socket for Node's 300 s.
 */
export const httpServerEnvSchema = z.object({
  HTTP_HEADERS_TIMEOUT_MS: positiveInt(20_000),
  HTTP_REQUEST_TIMEOUT_MS: positiveInt(30_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: positiveInt(65_000),
  /** Open connections at most; further ones are closed at once. */
  HTTP_MAX_CONNECTIONS: positiveInt(10_000),
  /**
   * Interface of the internal port serving /metrics and /readyz (INGRESS_METRICS_PORT,
   * API_METRICS_PORT). Loopback by default; in a container set 0.0.0.0 and do not publish it.
   */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
});

export interface ServerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 10_000,
};

export function httpServerEnv(env: Env = processEnv()): {
  limits: ServerLimits;
  metricsHost: string;
} {
  const parsed = parseEnv(httpServerEnvSchema, env, 'http server');
  return {
    limits: {
      headersTimeoutMs: parsed.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: parsed.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: parsed.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: parsed.HTTP_MAX_CONNECTIONS,
    },
    metricsHost: parsed.METRICS_HOST,
  };
}
