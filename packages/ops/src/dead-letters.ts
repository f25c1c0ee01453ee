import { type Database, webhookEvents } from '@billing/db';
import { addJob, isJobName, type StripeEventPayload } from '@billing/queue';
import type { Job, Queue } from 'bullmq';
import { and, desc, eq, gte, inArray, lte, type SQL } from 'drizzle-orm';

export interface DeadLetterDeps {
  db: Database;
  /** The `stripe-events` queue. */
  queue: Queue;
}

export interface DeadLetterFilter {
  /** Exact event type, e.g. `invoice.paid`. */
  type?: string | undefined;
  /** Event `created` at or after. */
  from?: Date | undefined;
  /** Event `created` at or before. */
  to?: Date | undefined;
  /** Most entries returned (newest first). Default 100. */
  limit?: number | undefined;
}

/** A webhook event that did not take effect: failed in the database, the queue, or both. */
export interface DeadLetter {
  eventId: string;
  type: string;
  /** Stripe's `event.created` (ISO), when known. */
  created: string | null;
  /** Why it failed: the worker's stored error, else the queue's failedReason. */
  reason: string | null;
  /** Processing attempts (the larger of the row's and the job's counts). */
  attempts: number;
  /** When it last failed (the failed job's finish time), when known. */
  failedAt: string | null;
  /** `database`: webhook_events.status is failed; `queue`: a job sits in the failed set. */
  sources: Array<'database' | 'queue'>;
  /** Id of the failed BullMQ job, when there is one. */
  jobId: string | null;
}

export interface DeadLetterList {
  deadLetters: DeadLetter[];
  /** True when more matched than `limit`, or the failed set was larger than one scan reads. */
  truncated: boolean;
}

/** Failed jobs read per scan of the BullMQ failed set (it keeps 30 days). */
const FAILED_SCAN_MAX = 10_000;
const FAILED_PAGE = 500;
const STRIPE_EVENT_JOBS = new Set(['stripe.event', 'stripe.thin-event']);

interface FailedJobInfo {
  job: Job;
  eventId: string;
  type: string;
  created: Date | null;
}

const createdOfRaw = (raw: unknown): Date | null => {
  if (typeof raw !== 'string') return null;
  try {
    const created = (JSON.parse(raw) as { created?: unknown }).created;
    if (typeof created === 'number') return new Date(created * 1000);
    if (typeof created === 'string' && !Number.isNaN(Date.parse(created))) return new Date(created);
  } catch {
    // An unparsable body is exactly the kind of thing that lands here; list it without a time.
  }
  return null;
};

const matches = (filter: DeadLetterFilter, type: string, created: Date | null) =>
  (!filter.type || filter.type === type) &&
  (!filter.from || (created !== null && created >= filter.from)) &&
  (!filter.to || (created !== null && created <= filter.to));

async function failedJobs(queue: Queue, filter: DeadLetterFilter) {
  const found: FailedJobInfo[] = [];
  let truncated = false;
  for (let start = 0; ; start += FAILED_PAGE) {
    if (start >= FAILED_SCAN_MAX) {
      truncated = (await queue.getFailedCount()) > FAILED_SCAN_MAX;
      break;
    }
    const page = await queue.getFailed(start, start + FAILED_PAGE - 1);
    for (const job of page) {
      if (!job || !STRIPE_EVENT_JOBS.has(job.name)) continue;
      const data = job.data as Partial<StripeEventPayload>;
      if (typeof data.eventId !== 'string') continue;
      const type = typeof data.type === 'string' ? data.type : 'unknown';
      const created = createdOfRaw(data.raw);
      if (matches(filter, type, created)) found.push({ job, eventId: data.eventId, type, created });
    }
    if (page.length < FAILED_PAGE) break;
  }
  return { found, truncated };
}

/**
 * Lists dead letters: rows with `webhook_events.status = 'failed'` and jobs in the failed set
 * of `stripe-events`, merged by event id, newest first. A failed job whose event has since
 * been processed (replayed, or redelivered by Stripe) is not listed.
 */
export async function listDeadLetters(
  deps: DeadLetterDeps,
  filter: DeadLetterFilter = {},
): Promise<DeadLetterList> {
  const limit = filter.limit ?? 100;
  const conditions: SQL[] = [eq(webhookEvents.status, 'failed')];
  if (filter.type) conditions.push(eq(webhookEvents.type, filter.type));
  if (filter.from) conditions.push(gte(webhookEvents.created, filter.from));
  if (filter.to) conditions.push(lte(webhookEvents.created, filter.to));
  const rows = await deps.db
    .select({
      eventId: webhookEvents.eventId,
      type: webhookEvents.type,
      created: webhookEvents.created,
      error: webhookEvents.error,
      attempts: webhookEvents.attempts,
    })
    .from(webhookEvents)
    .where(and(...conditions))
    .orderBy(desc(webhookEvents.created))
    .limit(limit + 1);

  const jobs = await failedJobs(deps.queue, filter);
  const jobsByEvent = new Map<string, FailedJobInfo>();
  for (const info of jobs.found) {
    const seen = jobsByEvent.get(info.eventId);
    if (!seen || (info.job.finishedOn ?? 0) > (seen.job.finishedOn ?? 0))
      jobsByEvent.set(info.eventId, info);
  }

  const letters = new Map<string, DeadLetter>();
  for (const row of rows) {
    const info = jobsByEvent.get(row.eventId);
    letters.set(row.eventId, {
      eventId: row.eventId,
      type: row.type,
      created: row.created.toISOString(),
      reason: row.error ?? info?.job.failedReason ?? null,
      attempts: Math.max(row.attempts, info?.job.attemptsMade ?? 0),
      failedAt: info?.job.finishedOn ? new Date(info.job.finishedOn).toISOString() : null,
      sources: info ? ['database', 'queue'] : ['database'],
      jobId: info?.job.id ?? null,
    });
  }

  // Jobs whose event is not a failed row: drop those the database has since settled.
  const others = [...jobsByEvent.values()].filter((info) => !letters.has(info.eventId));
  const settled = new Set<string>();
  for (let i = 0; i < others.length; i += 1_000) {
    const ids = others.slice(i, i + 1_000).map((info) => info.eventId);
    const states = await deps.db
      .select({ eventId: webhookEvents.eventId, status: webhookEvents.status })
      .from(webhookEvents)
      .where(inArray(webhookEvents.eventId, ids));
    for (const state of states) {
      if (state.status === 'processed' || state.status === 'ignored') settled.add(state.eventId);
    }
  }
  for (const info of others) {
    if (settled.has(info.eventId)) continue;
    letters.set(info.eventId, {
      eventId: info.eventId,
      type: info.type,
      created: info.created?.toISOString() ?? null,
      reason: info.job.failedReason ?? null,
      attempts: info.job.attemptsMade,
      failedAt: info.job.finishedOn ? new Date(info.job.finishedOn).toISOString() : null,
      sources: ['queue'],
      jobId: info.job.id ?? null,
    });
  }

  const sorted = [...letters.values()].sort(
    (a, b) =>
      (b.created ?? '').localeCompare(a.created ?? '') || a.eventId.localeCompare(b.eventId),
  );
  return {
    deadLetters: sorted.slice(0, limit),
    truncated: sorted.length > limit || rows.length > limit || jobs.truncated,
  };
}

export type ReplaySelector =
  | { eventId: string }
  | { all: true }
  | { type?: string | undefined; from?: Date | undefined; to?: Date | undefined };

export interface ReplayOutcome {
  eventId: string;
  /** `enqueued`: a replay job was added; `skipped`: nothing to do (see reason). */
  result: 'enqueued' | 'skipped';
  jobId?: string;
  reason?: string;
}

export interface ReplayReport {
  replayed: number;
  skipped: number;
  outcomes: ReplayOutcome[];
  /** True when more dead letters matched than one call replays (`maxEvents`); call again. */
  truncated: boolean;
}

export class DeadLetterNotFoundError extends Error {
  readonly code = 'dead_letter_not_found';
  constructor(readonly eventId: string) {
    super(`no dead letter for event ${eventId}`);
    this.name = 'DeadLetterNotFoundError';
  }
}

/**
 * Replays dead letters from their stored payload (`webhook_events.payload`; the failed job's
 * raw body when the event never reached the table):
 * 1. reset the row from `failed` to `received` (only if it is still failed), so the worker
 *    applies it instead of skipping a settled event;
 * 2. enqueue a `stripe.event` job with id `replay:<eventId>:<n>`, so a retained completed or
 *    failed job with the original id cannot swallow it;
 * 3. remove the superseded failed jobs of the event from the failed set.
 * Idempotent: an event processed meanwhile is skipped here, and if a replay races with a
 * redelivery, the worker's transaction on `webhook_events` applies the event once.
 */
export async function replayDeadLetters(
  deps: DeadLetterDeps,
  selector: ReplaySelector,
  options: { maxEvents?: number; now?: () => number } = {},
): Promise<ReplayReport> {
  const maxEvents = options.maxEvents ?? 1_000;
  const now = options.now ?? Date.now;
  let targets: DeadLetter[];
  let truncated = false;
  const jobsByEvent = await failedJobsByEvent(deps.queue);

  if ('eventId' in selector) {
    const letter = await deadLetterById(
      deps,
      selector.eventId,
      jobsByEvent.get(selector.eventId) ?? [],
    );
    if (!letter) {
      const [row] = await deps.db
        .select({ status: webhookEvents.status })
        .from(webhookEvents)
        .where(eq(webhookEvents.eventId, selector.eventId));
      if (row && (row.status === 'processed' || row.status === 'ignored')) {
        return {
          replayed: 0,
          skipped: 1,
          truncated: false,
          outcomes: [
            { eventId: selector.eventId, result: 'skipped', reason: `already ${row.status}` },
          ],
        };
      }
      throw new DeadLetterNotFoundError(selector.eventId);
    }
    targets = [letter];
  } else {
    const filter = 'all' in selector ? {} : selector;
    const list = await listDeadLetters(deps, { ...filter, limit: maxEvents });
    targets = list.deadLetters;
    truncated = list.truncated;
  }

  const outcomes: ReplayOutcome[] = [];
  for (const letter of targets) {
    outcomes.push(await replayOne(deps, letter, jobsByEvent.get(letter.eventId) ?? [], now()));
  }
  return {
    replayed: outcomes.filter((o) => o.result === 'enqueued').length,
    skipped: outcomes.filter((o) => o.result === 'skipped').length,
    outcomes,
    truncated,
  };
}

async function deadLetterById(
  deps: DeadLetterDeps,
  eventId: string,
  jobs: Job[],
): Promise<DeadLetter | undefined> {
  const [row] = await deps.db
    .select({ type: webhookEvents.type, status: webhookEvents.status })
    .from(webhookEvents)
    .where(eq(webhookEvents.eventId, eventId));
  if (row?.status === 'processed' || row?.status === 'ignored') return undefined;
  if (row?.status !== 'failed' && jobs.length === 0) return undefined;
  const job = jobs[0];
  return {
    eventId,
    type: row?.type ?? (job?.data as Partial<StripeEventPayload>)?.type ?? 'unknown',
    created: null,
    reason: job?.failedReason ?? null,
    attempts: job?.attemptsMade ?? 0,
    failedAt: null,
    sources: row?.status === 'failed' ? ['database'] : ['queue'],
    jobId: job?.id ?? null,
  };
}

/**
 * Failed Stripe-event jobs by event id, newest first: the original (job id = event id) and
 * earlier replays. One scan of the failed set serves a whole replay call.
 */
async function failedJobsByEvent(queue: Queue): Promise<Map<string, Job[]>> {
  const byEvent = new Map<string, Job[]>();
  for (let start = 0; start < FAILED_SCAN_MAX; start += FAILED_PAGE) {
    const page = await queue.getFailed(start, start + FAILED_PAGE - 1);
    for (const job of page) {
      if (!job || !STRIPE_EVENT_JOBS.has(job.name)) continue;
      const eventId = (job.data as Partial<StripeEventPayload>).eventId;
      if (typeof eventId !== 'string') continue;
      const list = byEvent.get(eventId) ?? [];
      list.push(job);
      byEvent.set(eventId, list);
    }
    if (page.length < FAILED_PAGE) break;
  }
  for (const list of byEvent.values())
    list.sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0));
  return byEvent;
}

async function replayOne(
  deps: DeadLetterDeps,
  letter: DeadLetter,
  jobs: Job[],
  at: number,
): Promise<ReplayOutcome> {
  const { eventId } = letter;
  const [row] = await deps.db
    .select({
      payload: webhookEvents.payload,
      type: webhookEvents.type,
      status: webhookEvents.status,
    })
    .from(webhookEvents)
    .where(eq(webhookEvents.eventId, eventId));
  if (row && (row.status === 'processed' || row.status === 'ignored')) {
    await removeJobs(jobs);
    return { eventId, result: 'skipped', reason: `already ${row.status}` };
  }

  const job = jobs[0];
  const jobData = job?.data as Partial<StripeEventPayload> | undefined;
  const raw = row ? JSON.stringify(row.payload) : jobData?.raw;
  if (!raw) return { eventId, result: 'skipped', reason: 'no stored payload' };
  const object = row ? (row.payload as { object?: unknown }).object : undefined;
  const name =
    job && isJobName(job.name) && STRIPE_EVENT_JOBS.has(job.name)
      ? (job.name as 'stripe.event' | 'stripe.thin-event')
      : object === 'v2.core.event'
        ? 'stripe.thin-event'
        : 'stripe.event';

  // 1. Reset the row, only if still failed: a row the worker settled meanwhile stays settled.
  if (row?.status === 'failed') {
    const reset = await deps.db
      .update(webhookEvents)
      .set({ status: 'received', error: null })
      .where(and(eq(webhookEvents.eventId, eventId), eq(webhookEvents.status, 'failed')))
      .returning({ id: webhookEvents.id });
    if (reset.length === 0) {
      const [now] = await deps.db
        .select({ status: webhookEvents.status })
        .from(webhookEvents)
        .where(eq(webhookEvents.eventId, eventId));
      if (now?.status === 'processed' || now?.status === 'ignored') {
        await removeJobs(jobs);
        return { eventId, result: 'skipped', reason: `already ${now.status}` };
      }
    }
  }

  // 2. Enqueue under a fresh id.
  const jobId = `replay:${eventId}:${at}`;
  await addJob(
    deps.queue,
    name,
    {
      eventId,
      type: row?.type ?? jobData?.type ?? letter.type,
      raw,
      receivedAt: at,
      secretIndex: typeof jobData?.secretIndex === 'number' ? jobData.secretIndex : 0,
    },
    { jobId },
  );

  // 3. The replay supersedes the failed jobs.
  await removeJobs(jobs);
  return { eventId, result: 'enqueued', jobId };
}

async function removeJobs(jobs: Job[]): Promise<void> {
  for (const job of jobs) {
    try {
      await job.remove();
    } catch {
      // Already removed (retention, or a concurrent replay): nothing left to supersede.
    }
  }
}
