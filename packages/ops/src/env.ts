import {
  type Env,
  isProduction,
  parseEnv,
  positiveInt,
  processEnv,
  weakSecretReason,
} from '@billing/config';
import { z } from 'zod';
import type { BackoffOptions } from './rate-limit.js';

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value?.trim() ? value.trim() : undefined));

/**
 * Ops settings. All optional: without OPS_BASIC_USER/OPS_BASIC_PASSWORD the dashboard has
 * no browser login (bearer tokens only); without STRIPE_SYNC_CRON the scheduled Stripe sync
 * is off. OPS_TOKEN itself is parsed by the API app's config (it also guards /api/ops).
 */
export const opsEnvSchema = z
  .object({
    OPS_BASIC_USER: optionalText,
    OPS_BASIC_PASSWORD: optionalText.pipe(
      z.string().min(12, 'must be at least 12 characters').optional(),
    ),
    /** Cron pattern (UTC) of the scheduled Stripe backfill/reconciliation, e.g. `0 3 * * *`. */
    STRIPE_SYNC_CRON: optionalText.pipe(
      z
        .string()
        .regex(/^(\S+\s+){4,5}\S+$/, 'must be a cron pattern with 5 or 6 fields')
        .optional(),
    ),
    /** Also enqueue undelivered events the database lacks on each scheduled run. */
    STRIPE_SYNC_FILL_GAPS: z
      .enum(['true', 'false', '1', '0', ''], { message: 'must be true or false' })
      .optional()
      .transform((value) => value !== 'false' && value !== '0'),
    /**
     * Seconds between event reconciliation sweeps (on whenever a Stripe key is configured);
     * 0 turns them off. Bounds how long an acknowledged event lost with Redis stays lost.
     */
    STRIPE_EVENT_SWEEP_INTERVAL_SECONDS: z.coerce
      .number({ message: 'must be a number of seconds' })
      .int('must be an integer')
      .min(0)
      .default(300),
    /** How far before the last swept point each sweep starts again. */
    STRIPE_EVENT_SWEEP_OVERLAP_SECONDS: z.coerce
      .number()
      .int('must be an integer')
      .min(0)
      .default(600),
    /** Events younger than this are left to their webhook delivery (may be in flight). */
    STRIPE_EVENT_SWEEP_MIN_AGE_SECONDS: z.coerce
      .number()
      .int('must be an integer')
      .min(0)
      .default(60),
    /** Consecutive 429s a backfill rides out before it stops as incomplete. */
    OPS_RATE_LIMIT_RETRIES: z.coerce.number().int('must be an integer').min(0).default(6),
    /** First back-off delay after a 429 (doubled each time, at least Retry-After). */
    OPS_RATE_LIMIT_BASE_MS: positiveInt(500),
    /** Longest single back-off delay. */
    OPS_RATE_LIMIT_MAX_MS: positiveInt(30_000),
  })
  .superRefine((env, ctx) => {
    if (Boolean(env.OPS_BASIC_USER) !== Boolean(env.OPS_BASIC_PASSWORD)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.OPS_BASIC_USER ? 'OPS_BASIC_PASSWORD' : 'OPS_BASIC_USER'],
        message: 'OPS_BASIC_USER and OPS_BASIC_PASSWORD are set together or not at all',
      });
    }
  });
export type OpsEnv = z.infer<typeof opsEnvSchema>;

/** Production also refuses a guessable dashboard password, as it does every other secret. */
const productionOpsEnvSchema = opsEnvSchema.superRefine((env, ctx) => {
  const reason = env.OPS_BASIC_PASSWORD ? weakSecretReason(env.OPS_BASIC_PASSWORD) : undefined;
  if (reason) ctx.addIssue({ code: 'custom', path: ['OPS_BASIC_PASSWORD'], message: reason });
});

export const opsEnv = (env: Env = processEnv()): OpsEnv =>
  parseEnv(isProduction(env) ? productionOpsEnvSchema : opsEnvSchema, env, 'ops');

/** The 429 back-off the ops settings describe (OPS_RATE_LIMIT_*). */
export const backoffFromEnv = (env: OpsEnv): BackoffOptions => ({
  maxRetries: env.OPS_RATE_LIMIT_RETRIES,
  baseDelayMs: env.OPS_RATE_LIMIT_BASE_MS,
  maxDelayMs: env.OPS_RATE_LIMIT_MAX_MS,
});
