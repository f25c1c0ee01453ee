import type { Database, Sql } from '@billing/db';
import { type Logger, moduleLogger } from '@billing/logger';
import {
  type BackfillReport,
  type BackoffOptions,
  fillGaps,
  type GapFillReport,
  runBackfill,
} from '@billing/ops';
import {
  bullOptions,
  createQueue,
  type JobHandlers,
  type JobPayload,
  jobCatalog,
  parsePayload,
  QUEUES,
} from '@billing/queue';
import type { RedisClient } from '@billing/redis';
import type { Stripe } from '@billing/stripe';
import { type Queue, Worker } from 'bullmq';

export interface StripeSyncDeps {
  db: Database;
  sql: Sql;
  stripe: Stripe;
  /** The `stripe-events` queue, for gap filling. */
  eventsQueue: Queue;
  cache?: { redis: RedisClient; prefix: string } | undefined;
  logger?: Logger;
  backoff?: BackoffOptions;
}

export interface StripeSyncResult {
  status: 'complete' | 'incomplete';
  backfill: BackfillReport;
  gaps?: GapFillReport;
}

/** Thrown (so BullMQ retries, resuming from the cursors) when a run did not finish. */
export class StripeSyncIncompleteError extends Error {
  constructor(readonly result: StripeSyncResult) {
    super(
      `stripe sync incomplete: ${[
        ...result.backfill.resources
          .filter((r) => r.status !== 'complete')
          .map(
            (r) =>
              `${r.resource} ${r.status} at ${r.cursor ?? 'start'}${r.error ? ` (${r.error})` : ''}`,
          ),
        ...(result.gaps?.status === 'incomplete' ? [`gap fill (${result.gaps.error})`] : []),
      ].join('; ')}`,
    );
    this.name = 'StripeSyncIncompleteError';
  }
}

/** One scheduled (or manual) run: backfill/reconcile the resources, then optionally fill gaps. */
export async function runStripeSync(
  deps: StripeSyncDeps,
  payload: JobPayload<'stripe.sync'>,
): Promise<StripeSyncResult> {
  const backfill = await runBackfill(
    { db: deps.db, sql: deps.sql, stripe: deps.stripe, cache: deps.cache, logger: deps.logger },
    { resources: payload.resources, backoff: deps.backoff },
  );
  const gaps = payload.fillGaps
    ? await fillGaps(
        { db: deps.db, stripe: deps.stripe, queue: deps.eventsQueue, logger: deps.logger },
        { backoff: deps.backoff },
      )
    : undefined;
  const complete = backfill.status === 'complete' && (gaps?.status ?? 'complete') === 'complete';
  return { status: complete ? 'complete' : 'incomplete', backfill, ...(gaps ? { gaps } : {}) };
}

/** Handlers of the `stripe-sync` queue (a job without a handler does not compile). */
export const stripeSyncHandlers = (
  deps: StripeSyncDeps,
): JobHandlers<typeof QUEUES.stripeSync, unknown, StripeSyncSummary> => ({
  'stripe.sync': async (payload) => {
    const result = await runStripeSync(deps, payload);
    if (result.status !== 'complete') throw new StripeSyncIncompleteError(result);
    return summarize(result);
  },
});

/** What a completed job keeps as its return value (counts, not the drift sample). */
export interface StripeSyncSummary {
  resources: Array<{
    resource: string;
    processed: number;
    applied: number;
    drifted: number;
    errors: number;
  }>;
  gaps?: { scanned: number; enqueued: number };
}

const summarize = (result: StripeSyncResult): StripeSyncSummary => ({
  resources: result.backfill.resources.map((r) => ({
    resource: r.resource,
    processed: r.processed,
    applied: r.applied,
    drifted: r.drifted,
    errors: r.errors.length,
  })),
  ...(result.gaps
    ? { gaps: { scanned: result.gaps.scanned, enqueued: result.gaps.enqueued.length } }
    : {}),
});

export const STRIPE_SYNC_SCHEDULER_ID = 'stripe-sync';

export interface StripeSyncWorkerOptions {
  /** A `worker`-role Redis connection (maxRetriesPerRequest null). */
  connection: RedisClient;
  /** REDIS_PREFIX. */
  prefix: string;
  db: Database;
  sql: Sql;
  stripe: Stripe;
  /** STRIPE_SYNC_CRON; undefined = off. */
  cron: string | undefined;
  /** STRIPE_SYNC_FILL_GAPS. */
  fillGaps: boolean;
  cache?: { redis: RedisClient; prefix: string } | undefined;
  logger?: Logger;
  /** 429 back-off (OPS_RATE_LIMIT_*). */
  backoff?: BackoffOptions;
}

export interface StripeSyncWorker {
  worker: Worker;
  queue: Queue;
  /** Stops taking jobs, waits for the running one, closes the queues. */
  close(): Promise<void>;
}

/**
 * Starts the scheduled Stripe sync: a BullMQ job scheduler on `stripe-sync` (cron in UTC)
 * and a worker with concurrency 1. Off by default: without a cron it removes any schedule a
 * previous deployment left and returns undefined. Manual runs: the `stripe-sync` CLI.
 */
export async function startStripeSyncWorker(
  options: StripeSyncWorkerOptions,
): Promise<StripeSyncWorker | undefined> {
  const log = options.logger ?? moduleLogger('worker-stripe-sync');
  const factory = { connection: options.connection, prefix: options.prefix };
  const queue = createQueue(QUEUES.stripeSync, factory);
  if (!options.cron) {
    await queue.removeJobScheduler(STRIPE_SYNC_SCHEDULER_ID);
    await queue.close();
    log.info('stripe sync schedule off (STRIPE_SYNC_CRON unset)');
    return undefined;
  }
  const eventsQueue = createQueue(QUEUES.stripeEvents, factory);
  await queue.upsertJobScheduler(
    STRIPE_SYNC_SCHEDULER_ID,
    { pattern: options.cron, tz: 'UTC' },
    {
      name: 'stripe.sync',
      data: parsePayload('stripe.sync', {
        resources: ['products', 'prices', 'customers', 'subscriptions', 'invoices'],
        fillGaps: options.fillGaps,
        trigger: 'schedule',
      }),
      opts: jobCatalog['stripe.sync'].opts,
    },
  );
  const handlers = stripeSyncHandlers({
    db: options.db,
    sql: options.sql,
    stripe: options.stripe,
    eventsQueue,
    cache: options.cache,
    logger: log,
    backoff: options.backoff,
  });
  const worker = new Worker(
    QUEUES.stripeSync,
    async (job) => {
      if (job.name !== 'stripe.sync')
        throw new Error(`unknown job ${job.name} on ${QUEUES.stripeSync}`);
      return handlers['stripe.sync'](parsePayload('stripe.sync', job.data), undefined);
    },
    { ...bullOptions(factory), concurrency: 1 },
  );
  worker.on('error', (error) => log.error({ err: error }, 'stripe sync worker error'));
  worker.on('failed', (job, error) =>
    log.error(
      { jobId: job?.id, attemptsMade: job?.attemptsMade, err: error },
      'stripe sync run failed',
    ),
  );
  log.info({ cron: options.cron }, 'stripe sync scheduled');
  return {
    worker,
    queue,
    close: async () => {
      await worker.close();
      await Promise.all([queue.close(), eventsQueue.close()]);
    },
  };
}
