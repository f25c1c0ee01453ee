import type { Database } from '@billing/db';
import { type Logger, moduleLogger } from '@billing/logger';
import type { Stripe } from '@billing/stripe';
import { describeError } from '@billing/sync';
import type { Queue } from 'bullmq';
import { enqueueMissingEvents } from './missing-events.js';
import type { BackoffOptions } from './rate-limit.js';

export interface GapFillDeps {
  db: Database;
  stripe: Stripe;
  /** The `stripe-events` queue. */
  queue: Queue;
  logger?: Logger;
}

export interface GapFillOptions {
  /** Oldest event to look at. Default (and Stripe's limit): 30 days ago. */
  since?: Date;
  /** List and compare only; enqueue nothing. */
  dryRun?: boolean;
  backoff?: BackoffOptions;
  now?: () => number;
}

export interface GapFillReport {
  status: 'complete' | 'incomplete';
  /** Undelivered events Stripe listed. */
  scanned: number;
  /** Of those, the ones `webhook_events` lacks. */
  missing: string[];
  /** Jobs added for them (empty on a dry run). */
  enqueued: Array<{ eventId: string; jobId: string }>;
  error?: string;
}

const EVENTS_API_RETENTION_MS = 30 * 24 * 3600 * 1000;

/**
 * Gap filling: lists the events Stripe has not managed to deliver (`delivery_success=false`:
 * pending or failed to at least one endpoint; the Events API keeps 30 days) and enqueues on
 * `stripe-events` every one that `webhook_events` lacks, exactly as the ingress would have.
 * The job id is the event id, so a delivery arriving meanwhile is deduplicated by BullMQ,
 * and the worker's exactly-once claim covers the rest. Like the backfill, a 429 storm ends
 * the run as incomplete.
 */
export async function fillGaps(
  deps: GapFillDeps,
  options: GapFillOptions = {},
): Promise<GapFillReport> {
  const log = deps.logger ?? moduleLogger('ops.gaps');
  const now = options.now ?? Date.now;
  const since = options.since ?? new Date(now() - EVENTS_API_RETENTION_MS);
  const result = await enqueueMissingEvents(deps, {
    list: (params) =>
      deps.stripe.events.list({
        ...params,
        delivery_success: false,
        created: { gte: Math.floor(since.getTime() / 1000) },
      }),
    dryRun: options.dryRun,
    backoff: options.backoff,
    now,
  });
  const report: GapFillReport = {
    status: result.status,
    scanned: result.scanned,
    missing: result.missing,
    enqueued: result.enqueued,
  };
  if (result.error) {
    report.error = describeError(result.error);
    log.error({ err: result.error, scanned: report.scanned }, 'gap fill incomplete');
  } else {
    log.info({ scanned: report.scanned, missing: report.missing.length }, 'gap fill complete');
  }
  return report;
}
