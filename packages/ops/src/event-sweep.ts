import { type Database, stripeEventSweeps } from '@billing/db';
import { type Logger, moduleLogger } from '@billing/logger';
import { bullOptions, createQueue, jobCatalog, parsePayload, QUEUES } from '@billing/queue';
import type { RedisClient } from '@billing/redis';
import type { Stripe } from '@billing/stripe';
import { describeError } from '@billing/sync';
import { type Queue, Worker } from 'bullmq';
import { sql } from 'drizzle-orm';
import { Counter, Gauge, type Registry } from 'prom-client';
import { enqueueMissingEvents } from './missing-events.js';
import type { BackoffOptions } from './rate-limit.js';

export interface EventSweepDeps {
  db: Database;
  stripe: Stripe;
  /** The `stripe-events` queue. */
  queue: Queue;
  logger?: Logger;
}

export interface EventSweepOptions {
  /** How far before the stored cursor each sweep starts again (late-visible events). */
  overlapSeconds: number;
  /** Events younger than this are left to their webhook delivery, which may be in flight. */
  minAgeSeconds: number;
  /** Without a cursor yet: how far back the first sweep looks. */
  firstWindowSeconds: number;
  backoff?: BackoffOptions;
  now?: () => number;
}

export interface EventSweepReport {
  status: 'complete' | 'incomplete';
  /** The window swept: events created in [from, to]. */
  from: Date;
  to: Date;
  /** Events Stripe listed in the window. */
  scanned: number;
  /** Events `webhook_events` lacked, enqueued now. */
  recovered: string[];
  /** Pages listed, and the id comparisons made (one query per page). */
  pages: number;
  /** Seconds between now and the cursor after this sweep: how stale "everything is in" is. */
  lagSeconds: number;
  error?: string;
}

const SWEEP_ID = 'events';

/**
 * Event reconciliation: lists the events Stripe created in a recent window (from the stored
 * cursor minus an overlap, to now minus a minimum age) and enqueues on `stripe-events` every
 * one that `webhook_events` lacks, whatever Stripe thinks of its delivery. This is what
 * recovers an event whose delivery was acknowledged (Stripe saw a 2xx, so `delivery_success`
 * is true and the gap fill never finds it) but whose job was lost with Redis before it ran.
 * Cheap when nothing is missing: one id comparison per page of up to 100 events. The cursor
 * moves only after a complete sweep, so an interrupted one is redone, never skipped; the
 * worker's exactly-once claim makes a re-enqueued event that did arrive meanwhile a no-op.
 */
export async function sweepStripeEvents(
  deps: EventSweepDeps,
  options: EventSweepOptions,
): Promise<EventSweepReport> {
  const log = deps.logger ?? moduleLogger('ops.event-sweep');
  const now = options.now ?? Date.now;
  const startedAt = now();
  const [cursor] = await deps.db
    .select({ sweptThrough: stripeEventSweeps.sweptThrough })
    .from(stripeEventSweeps)
    .where(sql`${stripeEventSweeps.id} = ${SWEEP_ID}`);
  const fromMs = cursor
    ? cursor.sweptThrough.getTime() - options.overlapSeconds * 1000
    : startedAt - options.firstWindowSeconds * 1000;
  const toMs = startedAt - options.minAgeSeconds * 1000;
  const from = new Date(Math.min(fromMs, toMs));
  const to = new Date(toMs);
  const result = await enqueueMissingEvents(deps, {
    list: (params) =>
      deps.stripe.events.list({
        ...params,
        created: { gte: Math.floor(from.getTime() / 1000), lte: Math.floor(to.getTime() / 1000) },
      }),
    backoff: options.backoff,
    now,
  });
  const report: EventSweepReport = {
    status: result.status,
    from,
    to,
    scanned: result.scanned,
    recovered: result.missing,
    pages: result.pages,
    lagSeconds: cursor ? Math.max(0, (startedAt - cursor.sweptThrough.getTime()) / 1000) : 0,
  };
  if (result.error) {
    report.error = describeError(result.error);
    log.error({ err: result.error, scanned: report.scanned }, 'event sweep incomplete');
    return report;
  }
  // Complete: everything created up to `to` is in webhook_events or enqueued.
  await deps.db
    .insert(stripeEventSweeps)
    .values({ id: SWEEP_ID, sweptThrough: to, recovered: report.recovered.length })
    .onConflictDoUpdate({
      target: stripeEventSweeps.id,
      set: {
        sweptThrough: sql`greatest(${stripeEventSweeps.sweptThrough}, excluded.swept_through)`,
        recovered: sql`${stripeEventSweeps.recovered} + excluded.recovered`,
        updatedAt: sql`now()`,
      },
    });
  report.lagSeconds = Math.max(0, (now() - to.getTime()) / 1000);
  const fields = { scanned: report.scanned, recovered: report.recovered.length, from, to };
  if (report.recovered.length > 0) log.warn(fields, 'event sweep recovered events never applied');
  else log.info(fields, 'event sweep complete');
  return report;
}

export const EVENT_SWEEP_SCHEDULER_ID = 'stripe-event-sweep';

export interface EventSweepWorkerOptions {
  /** A `worker`-role Redis connection (maxRetriesPerRequest null). */
  connection: RedisClient;
  /** REDIS_PREFIX. */
  prefix: string;
  db: Database;
  stripe: Stripe;
  /** STRIPE_EVENT_SWEEP_INTERVAL_SECONDS; 0 = off. */
  intervalSeconds: number;
  overlapSeconds: number;
  minAgeSeconds: number;
  registry?: Registry;
  logger?: Logger;
  backoff?: BackoffOptions;
  /** The clock the window is computed from (tests move it with the fake Stripe's). */
  now?: () => number;
}

/**
 * Starts the scheduled event reconciliation: a BullMQ job scheduler repeating every
 * `intervalSeconds` on its own queue and a worker with concurrency 1 (one sweep at a time).
 * With an interval of 0 it removes any schedule a previous deployment left. Metrics:
 * `stripe_event_sweep_recovered_total`, `stripe_event_sweep_lag_seconds`,
 * `stripe_event_sweep_runs_total{status}`.
 */
export async function startEventSweepWorker(
  options: EventSweepWorkerOptions,
): Promise<{ worker: Worker; queue: Queue; close(): Promise<void> } | undefined> {
  const log = options.logger ?? moduleLogger('ops.event-sweep');
  const factory = { connection: options.connection, prefix: options.prefix };
  const queue = createQueue(QUEUES.stripeEventSweep, factory);
  if (options.intervalSeconds === 0) {
    await queue.removeJobScheduler(EVENT_SWEEP_SCHEDULER_ID);
    await queue.close();
    log.info('event sweep off (STRIPE_EVENT_SWEEP_INTERVAL_SECONDS=0)');
    return undefined;
  }
  const metrics = options.registry ? sweepMetrics(options.registry) : undefined;
  const eventsQueue = createQueue(QUEUES.stripeEvents, factory);
  await queue.upsertJobScheduler(
    EVENT_SWEEP_SCHEDULER_ID,
    { every: options.intervalSeconds * 1000 },
    {
      name: 'stripe.event-sweep',
      data: parsePayload('stripe.event-sweep', { trigger: 'schedule' }),
      opts: jobCatalog['stripe.event-sweep'].opts,
    },
  );
  const worker = new Worker(
    QUEUES.stripeEventSweep,
    async (job) => {
      if (job.name !== 'stripe.event-sweep')
        throw new Error(`unknown job ${job.name} on ${QUEUES.stripeEventSweep}`);
      const report = await sweepStripeEvents(
        { db: options.db, stripe: options.stripe, queue: eventsQueue, logger: log },
        {
          overlapSeconds: options.overlapSeconds,
          minAgeSeconds: options.minAgeSeconds,
          firstWindowSeconds: Math.max(options.overlapSeconds, 3600),
          backoff: options.backoff,
          now: options.now,
        },
      );
      metrics?.runs.inc({ status: report.status });
      metrics?.recovered.inc(report.recovered.length);
      if (report.status !== 'complete') throw new Error(`event sweep incomplete: ${report.error}`);
      metrics?.lag.set(report.lagSeconds);
      return { scanned: report.scanned, recovered: report.recovered.length, pages: report.pages };
    },
    { ...bullOptions(factory), concurrency: 1 },
  );
  worker.on('error', (error) => log.error({ err: error }, 'event sweep worker error'));
  log.info({ intervalSeconds: options.intervalSeconds }, 'event sweep scheduled');
  return {
    worker,
    queue,
    close: async () => {
      await worker.close();
      await Promise.all([queue.close(), eventsQueue.close()]);
    },
  };
}

function sweepMetrics(registry: Registry) {
  return {
    recovered: new Counter({
      name: 'stripe_event_sweep_recovered_total',
      help: 'Events Stripe had that webhook_events lacked, enqueued by the reconciliation sweep',
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'stripe_event_sweep_lag_seconds',
      help: 'Seconds between now and the point up to which every Stripe event is known present',
      registers: [registry],
    }),
    runs: new Counter({
      name: 'stripe_event_sweep_runs_total',
      help: 'Event reconciliation sweeps by outcome',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
  };
}
