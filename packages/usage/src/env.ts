import { type Env, parseEnv, positiveInt, processEnv } from '@billing/config';
import { z } from 'zod';

/**
 * Usage metering configuration (the only place this package reads the environment).
 *
 * - USAGE_FREE_PERIOD: billing periods of users without a live subscription.
 *   `calendar_month` (default): UTC calendar months. `rolling_30d`: back-to-back 30-day
 *   windows counted from USAGE_FREE_EPOCH, the same windows for every user.
 * - USAGE_FREE_EPOCH: ISO timestamp anchoring `rolling_30d` (default 2024-01-01T00:00:00Z).
 * - USAGE_LATE_GRACE_HOURS: how long after a period ends records may still be booked into it
 *   (default 48).
 * - USAGE_LATE_POLICY: what happens to a record whose period closed more than the grace
 *   window ago. `adjust` (default): booked as an adjustment in the current period (the row
 *   keeps `original_period_start`). `reject`: rejected with `period_closed`.
 * - USAGE_MAX_FUTURE_SKEW_SECONDS: how far `occurredAt` may lie ahead of the server clock
 *   (default 300); beyond it a record is rejected with `occurred_in_future`.
 */
export const usageEnvSchema = z.object({
  USAGE_FREE_PERIOD: z.enum(['calendar_month', 'rolling_30d']).default('calendar_month'),
  USAGE_FREE_EPOCH: z.iso
    .datetime({ offset: true, message: 'must be an ISO 8601 timestamp' })
    .default('2024-01-01T00:00:00Z'),
  USAGE_LATE_GRACE_HOURS: z.coerce
    .number()
    .int('must be an integer')
    .nonnegative('must not be negative')
    .default(48),
  USAGE_LATE_POLICY: z.enum(['adjust', 'reject']).default('adjust'),
  USAGE_MAX_FUTURE_SKEW_SECONDS: positiveInt(300),
});

export type FreePeriodRule = 'calendar_month' | 'rolling_30d';
export type LatePolicy = 'adjust' | 'reject';

export interface UsageConfig {
  freePeriod: FreePeriodRule;
  freeEpoch: Date;
  lateGraceMs: number;
  latePolicy: LatePolicy;
  maxFutureSkewMs: number;
}

export function usageEnv(env: Env = processEnv()): UsageConfig {
  const parsed = parseEnv(usageEnvSchema, env, 'usage');
  return {
    freePeriod: parsed.USAGE_FREE_PERIOD,
    freeEpoch: new Date(parsed.USAGE_FREE_EPOCH),
    lateGraceMs: parsed.USAGE_LATE_GRACE_HOURS * 3600_000,
    latePolicy: parsed.USAGE_LATE_POLICY,
    maxFutureSkewMs: parsed.USAGE_MAX_FUTURE_SKEW_SECONDS * 1000,
  };
}

let cached: UsageConfig | undefined;

/** USAGE_* from the process environment, parsed once; the default of every `config` option. */
export function defaultUsageConfig(): UsageConfig {
  cached ??= usageEnv();
  return cached;
}
