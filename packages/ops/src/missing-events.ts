import { type Database, webhookEvents } from '@billing/db';
import { addJob } from '@billing/queue';
import type { Stripe } from '@billing/stripe';
import type { Queue } from 'bullmq';
import { inArray } from 'drizzle-orm';
import { type Lister, pageThrough } from './backfill/paginate.js';
import type { BackoffOptions } from './rate-limit.js';

/** Stripe's page size, and the number of ids compared against `webhook_events` at once. */
const PAGE_SIZE = 100;

export interface MissingEventsDeps {
  db: Database;
  /** The `stripe-events` queue. */
  queue: Queue;
}

export interface MissingEventsOptions {
  /** One Stripe events listing (its filter is what differs between the callers). */
  list: Lister<Stripe.Event>;
  /** Compare only; enqueue nothing. */
  dryRun?: boolean;
  backoff?: BackoffOptions;
  now: () => number;
}

export interface MissingEventsResult {
  status: 'complete' | 'incomplete';
  /** Events Stripe listed. */
  scanned: number;
  /** Id comparisons made (one query per page of up to 100 events). */
  pages: number;
  /** Listed events `webhook_events` lacks, in listing order. */
  missing: string[];
  /** Jobs added for them (empty on a dry run). */
  enqueued: Array<{ eventId: string; jobId: string }>;
  error?: Error;
}

/**
 * Pages through a Stripe events listing and enqueues on `stripe-events` every listed event
 * that `webhook_events` lacks, exactly as the ingress would have. One id comparison per page,
 * so a listing where nothing is missing costs a query per 100 events. What the listing is
 * (undelivered events, a time window) is the caller's; the gap fill and the event sweep are
 * the two callers.
 */
export async function enqueueMissingEvents(
  deps: MissingEventsDeps,
  options: MissingEventsOptions,
): Promise<MissingEventsResult> {
  const result: MissingEventsResult = {
    status: 'incomplete',
    scanned: 0,
    pages: 0,
    missing: [],
    enqueued: [],
  };
  let pending: Stripe.Event[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const page = pending;
    pending = [];
    result.pages++;
    const known = await deps.db
      .select({ eventId: webhookEvents.eventId })
      .from(webhookEvents)
      .where(
        inArray(
          webhookEvents.eventId,
          page.map((event) => event.id),
        ),
      );
    const seen = new Set(known.map((row) => row.eventId));
    for (const event of page) {
      if (seen.has(event.id)) continue;
      result.missing.push(event.id);
      if (options.dryRun) continue;
      const jobId = await enqueueStripeEvent(deps.queue, event, options.now());
      result.enqueued.push({ eventId: event.id, jobId });
    }
  };

  const walk = await pageThrough<Stripe.Event>({
    list: options.list,
    pageSize: PAGE_SIZE,
    backoff: options.backoff,
    onItem: async (event) => {
      result.scanned++;
      pending.push(event);
      if (pending.length >= PAGE_SIZE) await flush();
    },
  });
  await flush();
  result.status = walk.status;
  if (walk.status === 'incomplete') result.error = walk.error;
  return result;
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
