import type { Sql } from '@billing/db';
import type { Logger } from '@billing/logger';
import {
  bullOptions,
  createQueue,
  isJobName,
  type JobHandlers,
  jobCatalog,
  parsePayload,
  QUEUES,
} from '@billing/queue';
import type { RedisClient } from '@billing/redis';
import {
  type MeterEventClient,
  type RollupResult,
  reportUsageToStripe,
  rollup,
} from '@billing/usage';
import { type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import { Counter, Gauge, type Registry } from 'prom-client';

export const NIGHTLY_SCHEDULER_ID = 'usage-rollup-nightly';

export interface UsageWorkerOptions {
  sql: Sql;
  /** A `worker`-role connection (BullMQ needs maxRetriesPerRequest: null). */
  connection: RedisClient;
  prefix: string;
  logger: Logger;
  registry: Registry;
  chunkSize: number;
  /** Cron pattern of the nightly roll-up (UTC). */
  cron: string;
  /** Report rolled-up totals to Stripe Billing Meters after each roll-up (off when absent). */
  meterReporting?: { client: MeterEventClient; meters: Record<string, string> };
}

export interface UsageWorker {
  worker: Worker;
  queue: Queue;
  /** Stops the running roll-up between chunks, then waits for the worker to finish. */
  close(): Promise<void>;
}

interface JobContext {
  job: Job;
  signal: AbortSignal;
}

/** Thrown when shutdown interrupts a roll-up: BullMQ retries the job, which resumes the work. */
class RollupInterruptedError extends Error {
  constructor(result: RollupResult) {
    super(
      `roll-up ${result.rollupId} interrupted after ${result.chunks} chunks; the retry resumes it`,
    );
    this.name = 'RollupInterruptedError';
  }
}

/**
 * The `usage-rollup` queue's worker (concurrency 1) plus the nightly job scheduler.
 * `upsertJobScheduler` is keyed by its id, so every replica registering it on start leaves
 * exactly one scheduler (and one pending job), and a changed cron replaces the old one.
 */
export async function startUsageWorker(options: UsageWorkerOptions): Promise<UsageWorker> {
  const { sql, logger, registry, chunkSize } = options;
  const log = logger.child({ module: 'usage-worker' });
  const runs = new Counter({
    name: 'usage_rollup_runs_total',
    help: 'Roll-up runs by outcome',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const rows = new Counter({
    name: 'usage_rollup_rows_total',
    help: 'Ledger rows folded into usage_aggregates',
    registers: [registry],
  });
  const lastSuccess = new Gauge({
    name: 'usage_rollup_last_success_timestamp_seconds',
    help: 'When the last roll-up run completed',
    registers: [registry],
  });
  const meterEvents = new Counter({
    name: 'usage_meter_events_total',
    help: 'Stripe Billing Meter events by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  // Every label value exported from the start (at 0), so the dashboard's rates and increases
  // show 0 on a healthy system instead of "No data".
  for (const status of ['completed', 'aborted', 'failed']) runs.inc({ status }, 0);
  for (const outcome of ['sent', 'failed']) meterEvents.inc({ outcome }, 0);
  // Left at 0 until this process completed a run, the gauge read as "last success in 1970":
  // UsageRollupStale fired on every start and the panel showed 56 years. It starts at the last
  // completed run on record (any process, any replica), or, on a system that never completed
  // one, at this worker's start, so a roll-up that never succeeds still alerts 26 h later.
  const [lastRun] = await sql<{ at: number | null }[]>`
    select extract(epoch from max(finished_at))::float8 as at
    from usage_rollups where status = 'completed'`;
  lastSuccess.set(lastRun?.at ?? Date.now() / 1000);

  /** After a completed roll-up; a failure leaves steps pending for the next run, never fails the job. */
  const reportMeters = async (userId: string | undefined) => {
    if (!options.meterReporting) return;
    const { client, meters } = options.meterReporting;
    try {
      for (let round = 0; round < 100; round++) {
        const report = await reportUsageToStripe(sql, client, { meters, userId, limit: 500 });
        meterEvents.inc({ outcome: 'sent' }, report.sent);
        meterEvents.inc({ outcome: 'failed' }, report.failed);
        // Usage older than Stripe's 35-day window, sent at the oldest time Stripe accepts.
        meterEvents.inc({ outcome: 'past_window' }, report.pastWindow);
        if (report.sent === 0 || report.failed > 0) break;
      }
    } catch (error) {
      log.error({ err: error }, 'meter reporting failed; retried after the next roll-up');
    }
  };

  const handlers: JobHandlers<typeof QUEUES.usageRollup, JobContext, RollupResult> = {
    'usage.rollup': async (payload, { job, signal }) => {
      const result = await rollup(sql, {
        userId: payload.userId,
        chunkSize,
        signal,
        onProgress: (progress) => job.updateProgress(progress),
      });
      rows.inc(result.rowsClaimed);
      runs.inc({ status: result.status });
      if (result.status === 'aborted') throw new RollupInterruptedError(result);
      lastSuccess.set(Date.now() / 1000);
      await reportMeters(payload.userId);
      return result;
    },
  };

  const shutdown = new AbortController();
  const queue = createQueue(QUEUES.usageRollup, {
    connection: options.connection,
    prefix: options.prefix,
  });
  const worker = new Worker(
    QUEUES.usageRollup,
    async (job: Job, _token?: string, jobSignal?: AbortSignal) => {
      const jobLog = log.child({ jobId: job.id, job: job.name });
      if (!isJobName(job.name) || jobCatalog[job.name].queue !== QUEUES.usageRollup) {
        throw new UnrecoverableError(`unknown job ${job.name} on ${QUEUES.usageRollup}`);
      }
      let payload: ReturnType<typeof parsePayload<'usage.rollup'>>;
      try {
        payload = parsePayload('usage.rollup', job.data);
      } catch (error) {
        throw new UnrecoverableError(`invalid payload: ${(error as Error).message}`);
      }
      const signal = jobSignal ? AbortSignal.any([shutdown.signal, jobSignal]) : shutdown.signal;
      jobLog.info({ userId: payload.userId, trigger: payload.trigger }, 'roll-up job started');
      try {
        const result = await handlers['usage.rollup'](payload, { job, signal });
        jobLog.info({ rows: result.rowsClaimed, chunks: result.chunks }, 'roll-up job finished');
        return result;
      } catch (error) {
        if (!(error instanceof RollupInterruptedError)) runs.inc({ status: 'failed' });
        jobLog.warn({ err: error }, 'roll-up job failed');
        throw error;
      }
    },
    { ...bullOptions({ connection: options.connection, prefix: options.prefix }), concurrency: 1 },
  );
  worker.on('error', (error) => log.error({ err: error }, 'usage worker error'));

  await queue.upsertJobScheduler(
    NIGHTLY_SCHEDULER_ID,
    { pattern: options.cron, tz: 'UTC' },
    { name: 'usage.rollup', data: { trigger: 'schedule' }, opts: jobCatalog['usage.rollup'].opts },
  );
  log.info({ cron: options.cron }, 'nightly roll-up scheduler registered');

  return {
    worker,
    queue,
    close: async () => {
      shutdown.abort();
      await worker.close();
      await queue.close();
    },
  };
}
