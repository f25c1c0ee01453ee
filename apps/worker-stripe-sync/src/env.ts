import {
  dbEnvSchema,
  type Env,
  logEnvSchema,
  parseEnv,
  port,
  processEnv,
  redisEnvSchema,
} from '@billing/config';
import { type OpsEnv, opsEnv } from '@billing/ops';
import { z } from 'zod';

export const workerStripeSyncEnvSchema = z.object({
  ...dbEnvSchema.shape,
  ...redisEnvSchema.shape,
  ...logEnvSchema.shape,
  WORKER_STRIPE_SYNC_PORT: port(3004),
  /** Without a key the sync stays off (the process only serves its health endpoints). */
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_/, 'must be a Stripe secret or restricted key')
    .optional(),
  STRIPE_API_BASE: z.url({ message: 'must be an http(s):// URL' }).optional(),
});

/** This process's settings plus the ops ones it runs on (STRIPE_SYNC_*, OPS_RATE_LIMIT_*). */
export type WorkerStripeSyncEnv = z.infer<typeof workerStripeSyncEnvSchema> & { ops: OpsEnv };

export function workerStripeSyncEnv(env: Env = processEnv()): WorkerStripeSyncEnv {
  return {
    ...parseEnv(workerStripeSyncEnvSchema, env, 'worker-stripe-sync'),
    ops: opsEnv(env),
  };
}
