import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/**
 * The one definition of every queue, job name, payload schema and default job options.
 * Producers and workers both import it; a handler registry typed as `JobHandlers<Q>` makes
 * a job without a handler a compile error.
 */
export const QUEUES = {
  stripeEvents: 'stripe-events',
  usageRollup: 'usage-rollup',
  stripeSync: 'stripe-sync',
  stripeEventSweep: 'stripe-event-sweep',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Retry delay for webhook jobs: exponential from 1 s, capped at 15 min, with ±50 % jitter. */
export function webhookBackoffMs(attemptsMade: number, random: () => number = Math.random): number {
  const base = Math.min(1_000 * 2 ** Math.max(attemptsMade - 1, 0), 15 * 60_000);
  return Math.round(base * (0.5 + random()));
}
/** Name of the custom backoff strategy workers of `stripe-events` register. */
export const WEBHOOK_BACKOFF = 'webhook-backoff';
/**
 * 40 attempts with the delays above retry for roughly eight hours: long enough to ride out
 * a Postgres outage or a Stripe incident, short of Stripe's own three-day retry window.
 */
export const WEBHOOK_ATTEMPTS = 40;

const stripeEventPayload = z.object({
  /** Stripe event id; also the BullMQ job id, so a redelivery while the job is kept is a no-op. */
  eventId: z.string().min(1),
  type: z.string().min(1),
  /** The raw request body exactly as Stripe signed it. */
  raw: z.string().min(2),
  /** When the ingress accepted it (ms since epoch), for lag metrics. */
  receivedAt: z.number().int(),
  /** Index of the webhook secret that verified it (rotation bookkeeping). */
  secretIndex: z.number().int().nonnegative(),
});
export type StripeEventPayload = z.infer<typeof stripeEventPayload>;

const webhookJobOpts = {
  attempts: WEBHOOK_ATTEMPTS,
  backoff: { type: WEBHOOK_BACKOFF },
  // Completed jobs stay a day (bounded by count) so a quick redelivery is deduped by jobId;
  // Postgres' unique event_id is what guarantees exactly-once after that.
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  // Failed jobs are the dead-letter set: kept 30 days for inspection and replay.
  removeOnFail: { age: 30 * 24 * 3600 },
} satisfies JobsOptions;

const usageRollupPayload = z.object({
  /** Roll up one user's rows only; all users when absent. */
  userId: z.string().min(1).optional(),
  trigger: z.enum(['schedule', 'manual']),
});

const stripeSyncPayload = z.object({
  resources: z
    .array(z.enum(['customers', 'products', 'prices', 'subscriptions', 'invoices']))
    .min(1),
  /** Also enqueue undelivered events (`delivery_success=false`) that webhook_events lacks. */
  fillGaps: z.boolean().default(false),
  trigger: z.enum(['schedule', 'manual']),
});

const stripeEventSweepPayload = z.object({ trigger: z.enum(['schedule', 'manual']) });

export interface JobDefinition {
  queue: QueueName;
  schema: z.ZodType;
  opts: JobsOptions;
}
export type JobCatalog = Record<string, JobDefinition>;

export const jobCatalog = {
  /** A snapshot event (`object: "event"`) from POST /webhooks/stripe. */
  'stripe.event': { queue: QUEUES.stripeEvents, schema: stripeEventPayload, opts: webhookJobOpts },
  /** A thin event (`object: "v2.core.event"`): only ids; the worker fetches what it needs. */
  'stripe.thin-event': {
    queue: QUEUES.stripeEvents,
    schema: stripeEventPayload,
    opts: webhookJobOpts,
  },
  'usage.rollup': {
    queue: QUEUES.usageRollup,
    schema: usageRollupPayload,
    opts: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 30_000, jitter: 0.5 },
      removeOnComplete: { age: 7 * 24 * 3600, count: 1_000 },
      removeOnFail: { age: 30 * 24 * 3600 },
    },
  },
  'stripe.sync': {
    queue: QUEUES.stripeSync,
    schema: stripeSyncPayload,
    opts: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 60_000, jitter: 0.5 },
      removeOnComplete: { age: 7 * 24 * 3600, count: 1_000 },
      removeOnFail: { age: 30 * 24 * 3600 },
    },
  },
  /** Event reconciliation: enqueue the events Stripe has that webhook_events lacks. */
  'stripe.event-sweep': {
    queue: QUEUES.stripeEventSweep,
    schema: stripeEventSweepPayload,
    opts: {
      // The next scheduled sweep redoes the window anyway: no long retry chain.
      attempts: 2,
      backoff: { type: 'exponential', delay: 10_000, jitter: 0.5 },
      removeOnComplete: { age: 24 * 3600, count: 500 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  },
} as const satisfies JobCatalog;

export type Jobs = typeof jobCatalog;
export type JobName = keyof Jobs;
export type JobPayload<N extends JobName> = z.infer<Jobs[N]['schema']>;
export type JobsOfQueue<Q extends QueueName> = {
  [N in JobName]: Jobs[N]['queue'] extends Q ? N : never;
}[JobName];

/** A handler for every job of queue Q; leaving one out does not compile. */
export type JobHandlers<Q extends QueueName, Ctx = unknown, R = unknown> = {
  [N in JobsOfQueue<Q>]: (payload: JobPayload<N>, ctx: Ctx) => Promise<R>;
};

export function parsePayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return jobCatalog[name].schema.parse(data) as JobPayload<N>;
}

export const isJobName = (name: string): name is JobName => Object.hasOwn(jobCatalog, name);
