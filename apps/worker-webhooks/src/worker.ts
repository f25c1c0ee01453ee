import type { Logger } from '@billing/logger';
import {
  bullOptions,
  type JobHandlers,
  type JobName,
  type JobsOfQueue,
  parsePayload,
  QUEUES,
  WEBHOOK_BACKOFF,
  webhookBackoffMs,
} from '@billing/queue';
import type { RedisClient } from '@billing/redis';
import { describeError } from '@billing/sync';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import {
  applyBatch,
  type BatchItem,
  type ProcessDeps,
  type ProcessOutcome,
} from './apply-batch.js';
import { Batcher } from './batcher.js';

export interface WebhookWorkerDeps extends ProcessDeps {
  /** A `worker`-role connection (never gives up on a command, as BullMQ requires). */
  connection: RedisClient;
  /**
   * Jobs active at once (WEBHOOK_CONCURRENCY). Hundreds are fine: an active job only waits
   * for its batch, and the batches are what use Postgres.
   */
  concurrency: number;
  /** Group commit: events per batch (WEBHOOK_BATCH_SIZE, default 100). */
  batchSize?: number;
  /** …or the window a batch waits for more events (WEBHOOK_BATCH_WINDOW_MS, default 5). */
  batchWindowMs?: number;
  /** Batch transactions running at once (WEBHOOK_BATCHES_IN_FLIGHT, default 2). */
  batchesInFlight?: number;
  logger: Logger;
  /**
   * BullMQ job lock (ms) and how often stalled jobs are looked for: a job whose worker died
   * comes back after at most about lockDuration + stalledInterval. BullMQ's defaults (30 s
   * each) when absent.
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

type StripeEventsJob = JobsOfQueue<typeof QUEUES.stripeEvents>;

export const BATCH_DEFAULTS = { size: 100, windowMs: 5, inFlight: 2 } as const;

/**
 * Both job types of `stripe-events` go through the same exactly-once path: a thin event is
 * recorded (and ignored until a thin type gets a handler) just like a snapshot event. Each
 * job joins the current batch; its promise settles when that batch has committed.
 */
function jobHandlers(
  batcher: Batcher<BatchItem, ProcessOutcome>,
): JobHandlers<typeof QUEUES.stripeEvents, Job, ProcessOutcome> {
  const run = (payload: BatchItem['payload'], job: Job) =>
    batcher.submit({
      payload,
      finalAttempt: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
    });
  return {
    'stripe.event': run,
    'stripe.thin-event': run,
  };
}

/**
 * Starts the BullMQ worker of `stripe-events`: many active jobs feeding a group-commit
 * batcher (batcher.ts → apply-batch.ts). Retries use the catalog's WEBHOOK_BACKOFF
 * (exponential with jitter, hours in total); UnrecoverableError goes straight to the failed
 * set. Stalled jobs (a worker that died mid-job) are moved back by BullMQ's stalled check and
 * re-run; the `webhook_events` claim makes the re-run a no-op if the first one committed.
 */
export function startWebhookWorker(deps: WebhookWorkerDeps): Worker {
  const batcher = new Batcher<BatchItem, ProcessOutcome>((items) => applyBatch(deps, items), {
    size: deps.batchSize ?? BATCH_DEFAULTS.size,
    windowMs: deps.batchWindowMs ?? BATCH_DEFAULTS.windowMs,
    inFlight: deps.batchesInFlight ?? BATCH_DEFAULTS.inFlight,
  });
  const handlers = jobHandlers(batcher);
  const logger = deps.logger;
  const worker = new Worker(
    QUEUES.stripeEvents,
    async (job: Job) => {
      const name = job.name as JobName;
      if (!Object.hasOwn(handlers, name))
        throw new UnrecoverableError(`no handler for job ${job.name}`);
      let payload: BatchItem['payload'];
      try {
        payload = parsePayload(name as StripeEventsJob, job.data);
      } catch (error) {
        throw new UnrecoverableError(`job data invalid: ${describeError(error)}`);
      }
      return handlers[name as StripeEventsJob](payload, job);
    },
    {
      ...bullOptions({ connection: deps.connection, prefix: deps.redisPrefix }),
      concurrency: deps.concurrency,
      ...(deps.lockDurationMs ? { lockDuration: deps.lockDurationMs } : {}),
      ...(deps.stalledIntervalMs ? { stalledInterval: deps.stalledIntervalMs } : {}),
      settings: {
        backoffStrategy: (attemptsMade: number, type?: string) => {
          if (type === WEBHOOK_BACKOFF) return webhookBackoffMs(attemptsMade);
          // Unknown strategy: BullMQ reads a negative delay as "do not retry"; say why.
          logger.error({ type }, 'unknown backoff strategy');
          return -1;
        },
      },
    },
  );
  worker.on('error', (error) => logger.error({ err: error }, 'worker error'));
  worker.on('failed', (job, error) => {
    if (!job) return;
    const final =
      error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    logger[final ? 'error' : 'warn'](
      { jobId: job.id, job: job.name, attemptsMade: job.attemptsMade, err: error },
      final ? 'job moved to the failed set' : 'job failed, retrying',
    );
  });
  return worker;
}
