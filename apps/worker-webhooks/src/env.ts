import {
  dbEnvSchema,
  type Env,
  flag,
  isProduction,
  logEnvSchema,
  parseEnv,
  port,
  positiveInt,
  processEnv,
  redisEnvSchema,
  stripeEnvSchema,
} from '@billing/config';
import { refetchObjectsSchema } from '@billing/sync';
import type { z } from 'zod';

/** Everything the webhook worker reads from the environment, parsed once at start-up. */
export const workerEnvSchema = (production: boolean) =>
  dbEnvSchema
    .extend(redisEnvSchema.shape)
    .extend(logEnvSchema.shape)
    .extend(
      stripeEnvSchema(production).pick({ STRIPE_SECRET_KEY: true, STRIPE_API_BASE: true }).shape,
    )
    .extend({
      WORKER_WEBHOOKS_PORT: port(3002),
      /** Jobs active at once in this process; they wait cheaply for their batch. */
      WEBHOOK_CONCURRENCY: positiveInt(256),
      /** Group commit: a batch is applied when it holds this many events… */
      WEBHOOK_BATCH_SIZE: positiveInt(100),
      /** …or this many ms after its first event (a lone event waits at most this long). */
      WEBHOOK_BATCH_WINDOW_MS: positiveInt(5),
      /** Batch transactions running at once (each holds one Postgres connection). */
      WEBHOOK_BATCHES_IN_FLIGHT: positiveInt(2),
      /** Object families always re-read from Stripe, e.g. `subscription,invoice`. Off by default. */
      STRIPE_REFETCH_OBJECTS: refetchObjectsSchema,
      /** Resolve a same-second, same-rank tie by re-reading the object (needs STRIPE_SECRET_KEY). */
      WEBHOOK_REFETCH_ON_TIE: flag(true),
      /** Postgres lock_timeout per event transaction: a lock held longer is a transient failure, retried later. */
      WEBHOOK_LOCK_TIMEOUT_MS: positiveInt(10_000),
      /** BullMQ job lock; a crashed worker's jobs are re-run after about lock + stalled interval. */
      WEBHOOK_LOCK_DURATION_MS: positiveInt(30_000),
      /** How often this worker looks for stalled jobs (those whose lock expired). */
      WEBHOOK_STALLED_INTERVAL_MS: positiveInt(30_000),
    });

export type WorkerEnv = z.infer<ReturnType<typeof workerEnvSchema>>;

export const workerEnv = (env: Env = processEnv()): WorkerEnv =>
  parseEnv(workerEnvSchema(isProduction(env)), env, 'worker-webhooks');
