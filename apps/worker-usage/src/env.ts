import {
  dbEnvSchema,
  type Env,
  logEnvSchema,
  parseEnv,
  port,
  positiveInt,
  processEnv,
  redisEnvSchema,
} from '@billing/config';
import { DEFAULT_ROLLUP_CHUNK_SIZE, type UsageConfig, usageEnv } from '@billing/usage';
import { z } from 'zod';

/** Five or six space-separated cron fields (BullMQ validates the expression itself on upsert). */
const cron = z
  .string()
  .trim()
  .refine(
    (value) => /^\S+( \S+){4,5}$/.test(value),
    'must be a cron pattern with 5 or 6 fields, e.g. "0 2 * * *"',
  );

/** `metric=event_name` pairs, comma-separated; empty (default) turns meter reporting off. */
const meterMap = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const meters: Record<string, string> = {};
    for (const pair of value
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const match = /^([a-z][a-z0-9_]*)=([A-Za-z0-9_.:-]{1,100})$/.exec(pair);
      if (!match) {
        ctx.addIssue({ code: 'custom', message: `"${pair}" is not metric=meter_event_name` });
        return z.NEVER;
      }
      meters[match[1]!] = match[2]!;
    }
    return meters;
  });

export const workerUsageEnvSchema = z
  .object({
    ...dbEnvSchema.shape,
    ...redisEnvSchema.shape,
    ...logEnvSchema.shape,
    WORKER_USAGE_PORT: port(3003),
    /** When the nightly roll-up runs, in UTC. */
    USAGE_ROLLUP_CRON: cron.default('0 2 * * *'),
    /**
     * Ledger rows per roll-up chunk (one transaction each). A chunk reads its rows and upserts
     * each group it touches once, so chunks are large (see packages/usage/README.md).
     */
    USAGE_ROLLUP_CHUNK_SIZE: positiveInt(DEFAULT_ROLLUP_CHUNK_SIZE),
    /** How often the Redis limit counters are compared with Postgres (drift gauges). */
    USAGE_DRIFT_INTERVAL_SECONDS: positiveInt(60),
    /** Report rolled-up usage to Stripe Billing Meters, e.g. `compute_minutes=compute_minutes`. */
    USAGE_STRIPE_METERS: meterMap,
    STRIPE_SECRET_KEY: z
      .string()
      .regex(/^(sk|rk)_/, 'must be a Stripe secret or restricted key')
      .optional(),
    STRIPE_API_BASE: z.url({ message: 'must be an http(s):// URL' }).optional(),
  })
  .superRefine((env, ctx) => {
    if (Object.keys(env.USAGE_STRIPE_METERS).length > 0 && !env.STRIPE_SECRET_KEY) {
      ctx.addIssue({
        code: 'custom',
        path: ['STRIPE_SECRET_KEY'],
        message: 'is required when USAGE_STRIPE_METERS is set',
      });
    }
  });

export type WorkerUsageEnv = z.infer<typeof workerUsageEnvSchema> & { usage: UsageConfig };

export function workerUsageEnv(env: Env = processEnv()): WorkerUsageEnv {
  return { ...parseEnv(workerUsageEnvSchema, env, 'worker-usage'), usage: usageEnv(env) };
}
