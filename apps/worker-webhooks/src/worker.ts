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
import { type ProcessDeps, type ProcessOutcome, processStripeEvent } from './process-event.js';

export interface WebhookWorkerDeps extends ProcessDeps {
  /** A `worker`-role connection (never gives up on a command, as BullMQ requires). */
  connection: RedisClient;
  /** Events processed in parallel (WEBHOOK_CONCURRENCY). */
  concurrency: number;
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

/**
 * Both job types of `stripe-events` go through the same exactly-once path: a thin event is
 * recorded (and ignored until a thin type gets a handler) just like a snapshot event.
 */
function jobHandlers(
  deps: WebhookWorkerDeps,
): JobHandlers<typeof QUEUES.stripeEvents, Job, ProcessOutcome> {
  const run = (payload: Parameters<typeof processStripeEvent>[1], job: Job) =>
    processStripeEvent(deps, payload, {
      finalAttempt: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
    });
  return {
    'stripe.event': run,
    'stripe.thin-event': run,
  };
}

/**
 * Starts the BullMQ worker of `stripe-events`. Retries use the catalog's WEBHOOK_BACKOFF
 * (exponential with jitter, hours in total); UnrecoverableError goes straight to the failed
 * set. Stalled jobs (a worker that died mid-job) are moved back by BullMQ's stalled check and
 * re-run; the `webhook_events` claim makes the re-run a no-op if the first one committed.
 */
export function startWebhookWorker(deps: WebhookWorkerDeps): Worker {
  const handlers = jobHandlers(deps);
  const logger = deps.logger;
  const worker = new Worker(
    QUEUES.stripeEvents,
    async (job: Job) => {
      const name = job.name as JobName;
      if (!Object.hasOwn(handlers, name))
        throw new UnrecoverableError(`no handler for job ${job.name}`);
      let payload: Parameters<typeof processStripeEvent>[1];
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
