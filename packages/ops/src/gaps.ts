import { type Database, webhookEvents } from '@billing/db';
import { type Logger, moduleLogger } from '@billing/logger';
import { addJob } from '@billing/queue';
import type { Stripe } from '@billing/stripe';
import { describeError } from '@billing/sync';
import type { Queue } from 'bullmq';
import { inArray } from 'drizzle-orm';
import { pageThrough } from './backfill/paginate.js';
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
const CHECK_BATCH = 100;

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
  const report: GapFillReport = { status: 'incomplete', scanned: 0, missing: [], enqueued: [] };
  let pending: Stripe.Event[] = [];

  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const known = await deps.db
      .select({ eventId: webhookEvents.eventId })
      .from(webhookEvents)
      .where(
        inArray(
          webhookEvents.eventId,
          batch.map((event) => event.id),
        ),
      );
    const seen = new Set(known.map((row) => row.eventId));
    for (const event of batch) {
      if (seen.has(event.id)) continue;
      report.missing.push(event.id);
      if (options.dryRun) continue;
      report.enqueued.push({
        eventId: event.id,
        jobId: await enqueueStripeEvent(deps.queue, event, now()),
      });
    }
  };

  const result = await pageThrough<Stripe.Event>({
    list: (params) =>
      deps.stripe.events.list({
        ...params,
        delivery_success: false,
        created: { gte: Math.floor(since.getTime() / 1000) },
      }),
    pageSize: CHECK_BATCH,
    backoff: options.backoff,
    onItem: async (event) => {
      report.scanned++;
      pending.push(event);
      if (pending.length >= CHECK_BATCH) await flush();
    },
  });
  await flush();

  report.status = result.status;
  if (result.status === 'incomplete') {
    report.error = describeError(result.error);
    log.error({ err: result.error, scanned: report.scanned }, 'gap fill incomplete');
  } else {
    log.info({ scanned: report.scanned, missing: report.missing.length }, 'gap fill complete');
  }
  return report;
}

/** Enqueues an event read from Stripe's API as the ingress would have; returns the job id. */
export async function enqueueStripeEvent(
  queue: Queue,
  event: Stripe.Event,
  at: number,
): Promise<string> {
  const payload = {
    eventId: event.id,
    type: event.type,
    // Read from the API with our key over TLS: as authentic as a signed delivery.
    raw: JSON.stringify(event),
    receivedAt: at,
    secretIndex: 0,
  };
  // A job kept under the event id from an earlier delivery that finished without a row
  // (e.g. failed before its claim committed) would swallow the add: use a fresh id then.
  const existing = await queue.getJob(event.id);
  const state = existing ? await existing.getState() : undefined;
  const jobId = state === 'completed' || state === 'failed' ? `gap:${event.id}:${at}` : event.id;
  await addJob(queue, 'stripe.event', payload, { jobId });
  return jobId;
}
