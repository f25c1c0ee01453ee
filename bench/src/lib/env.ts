import {
  dbEnvSchema,
  type Env,
  parseEnv,
  positiveInt,
  processEnv,
  redisEnvSchema,
} from '@billing/config';
import { z } from 'zod';

/**
 * Settings of the benchmarks and fault drills. The shared Postgres is used through a database
 * of their own (BENCH_DATABASE, created and migrated on first use); Redis is always a
 * `redis-server` of their own on a spare port, so nothing they do touches other work.
 */
export const benchEnvSchema = dbEnvSchema.pick({ DATABASE_URL: true }).extend({
  REDIS_URL: redisEnvSchema.shape.REDIS_URL,
  /** Database the benchmarks use on the server of DATABASE_URL. */
  BENCH_DATABASE: z
    .string()
    .regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and _ only')
    .default('billing_bench'),
  /** Measured rounds per configuration (the median is reported). */
  BENCH_ROUNDS: positiveInt(3),
  /** Target length of one measured round, in seconds. */
  BENCH_SECONDS: positiveInt(8),
  /** Concurrent connections of the HTTP load generator. */
  BENCH_CONNECTIONS: positiveInt(32),
  /** Backlog of the drain benchmark (at least 100,000 for the reported figures; 20,000 for a quick run). */
  BENCH_DRAIN_EVENTS: positiveInt(100_000),
  /** WEBHOOK_CONCURRENCY of the worker (and the no-op baseline) in benchmarks 2 and drain. */
  BENCH_WORKER_CONCURRENCY: positiveInt(256),
  /** Jobs of the long memory run (benchmark 5); a million, enough to show a leak of bytes per job. */
  BENCH_MEMORY_JOBS: positiveInt(1_000_000),
  /** Ledger rows of the roll-up benchmark; five million, a busy night's worth. */
  BENCH_ROLLUP_ROWS: positiveInt(5_000_000),
  /** Time budget of each roll-up variant; past it the run stops and its total is extrapolated. */
  BENCH_ROLLUP_BUDGET_SECONDS: positiveInt(180),
  /** Seconds of the sustained-load drill (a few minutes for a real soak; CI uses the default, 20). */
  FAULT_SOAK_SECONDS: positiveInt(20),
});
export type BenchEnv = z.infer<typeof benchEnvSchema>;

export const benchEnv = (env: Env = processEnv()): BenchEnv =>
  parseEnv(benchEnvSchema, env, 'bench');

/**
 * The environment children start from: PATH and HOME only, so a DATABASE_URL or REDIS_URL
 * of the caller never leaks into an app that must use the bench's own.
 */
export function baseChildEnv(env: Env = processEnv()): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
