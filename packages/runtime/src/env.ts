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
