import { createHash } from 'node:crypto';
import type { Sql } from '@billing/db';
import { moduleLogger } from '@billing/logger';

const log = moduleLogger('usage.meters');

/** The part of the Stripe client this needs (`stripe.billing.meterEvents.create`). */
export interface MeterEventClient {
  billing: {
    meterEvents: {
      create(
        params: {
          event_name: string;
          payload: Record<string, string>;
          identifier?: string;
          timestamp?: number;
        },
        options?: { idempotencyKey?: string },
      ): Promise<unknown>;
    };
  };
}

export interface MeterReportOptions {
  /** Metric → Stripe meter `event_name`. Metrics not listed are not reported. */
  meters: Record<string, string>;
  /** Only this user's totals. */
  userId?: string;
  /** Most groups per call (default 500). */
  limit?: number;
  now?: Date;
}

export interface MeterReportResult {
  /** Meter events sent (including resends of a pending one). */
  sent: number;
  /**
   * Events whose usage was older than Stripe accepts (35 days): sent at the oldest time Stripe
   * takes, and logged, never silently (see `meterEventTimestamp`).
   */
  pastWindow: number;
  /** Groups that failed; they stay pending (or unreported) for the next call. */
  failed: number;
}

/** Meter-event identifier of one report step: ≤ 100 characters, the same on every resend. */
export function meterIdentifier(
  userId: string,
  metric: string,
  periodStart: Date,
  from: number,
  to: number,
): string {
  const group = createHash('sha256')
    .update(`${userId}\u0000${metric}\u0000${periodStart.getTime()}`)
    .digest('hex');
  return `usage-${group.slice(0, 40)}-${from}-${to}`;
}

/** Stripe accepts a meter event's timestamp up to 35 days back and 5 minutes ahead. */
export const METER_EVENT_MAX_AGE_S = 35 * 86_400;
/** Margin inside the 35 days, so a request in flight is not refused at the edge. */
const MAX_AGE_MARGIN_S = 3_600;

/**
 * The timestamp a meter event carries: the time of the usage it reports (the latest record
 * folded into the step), so Stripe books it in the billing period it happened in, not the
 * one it was reported in. Never ahead of now (records may be a little in the future). Usage
 * older than Stripe accepts cannot carry its own time: it is sent at the oldest accepted
 * moment (Stripe's documented limit; the caller logs and counts it) rather than refused.
 */
export function meterEventTimestamp(
  usageAt: Date,
  now: Date,
): { timestamp: number; pastWindow: boolean } {
  const nowS = Math.floor(now.getTime() / 1000);
  const at = Math.min(Math.floor(usageAt.getTime() / 1000), nowS);
  const oldest = nowS - METER_EVENT_MAX_AGE_S + MAX_AGE_MARGIN_S;
  return at < oldest
    ? { timestamp: oldest, pastWindow: true }
    : { timestamp: at, pastWindow: false };
}

interface Candidate {
  user_id: string;
  metric: string;
  period_ms: number;
  quantity: string;
  reported: string;
  pending_quantity: string | null;
  pending_identifier: string | null;
  customer_id: string;
  /** When the latest usage in the rolled-up total happened (ms since epoch). */
  usage_ms: number;
}

/**
 * Reports rolled-up usage to Stripe Billing Meters (optional; the worker calls it after a
 * roll-up when USAGE_STRIPE_METERS is set). For each (user, metric, period) whose aggregate
 * exceeds what was reported, one meter event carries the difference:
 *
 * 1. Write `pending_quantity` / `pending_identifier` (only if nobody else has a step pending).
 * 2. Send the meter event with that identifier.
 * 3. Move pending into `reported_quantity`.
 *
 * A crash after 2 resends the same identifier next time, which Stripe dedupes (it keeps
 * identifiers for at least 24 h). Only rolled-up totals are reported, never the live tail.
 * A total that went down (a correction after it was reported) is not sent as a negative
 * event: later usage first makes up the difference, then is reported.
 */
export async function reportUsageToStripe(
  sql: Sql,
  stripe: MeterEventClient,
  options: MeterReportOptions,
): Promise<MeterReportResult> {
  const metrics = Object.keys(options.meters);
  const result: MeterReportResult = { sent: 0, failed: 0, pastWindow: 0 };
  const now = options.now ?? new Date();
  if (metrics.length === 0) return result;
  const candidates = await sql<Candidate[]>`
    select a.user_id, a.metric, (extract(epoch from a.period_start) * 1000)::float8 as period_ms,
           a.quantity::text, coalesce(r.reported_quantity, 0)::text as reported,
           r.pending_quantity::text, r.pending_identifier, c.id as customer_id,
           -- the latest usage folded into the total; a record booked late into this period
           -- (original_period_start set) counts at its arrival, the time it was booked at
           (extract(epoch from (
             select max(case when l.original_period_start is null then l.occurred_at else l.received_at end)
             from usage_ledger l
             where l.user_id = a.user_id and l.metric = a.metric and l.period_start = a.period_start
               and l.txid < a.through_txid)) * 1000)::float8 as usage_ms
    from usage_aggregates a
    left join usage_meter_reports r
      on r.user_id = a.user_id and r.metric = a.metric and r.period_start = a.period_start
    join lateral (
      select id from customers
      where customers.user_id = a.user_id and not customers.deleted
      order by created_at desc nulls last limit 1
    ) c on true
    where a.metric = any(${metrics}::text[])
      ${options.userId ? sql`and a.user_id = ${options.userId}` : sql``}
      and (r.pending_quantity is not null or a.quantity > coalesce(r.reported_quantity, 0))
    order by a.user_id, a.metric, a.period_start
    limit ${options.limit ?? 500}`;

  for (const c of candidates) {
    const periodStart = new Date(c.period_ms);
    const periodIso = periodStart.toISOString();
    const reported = Number(c.reported);
    let target: number;
    let identifier: string;
    if (c.pending_quantity !== null && c.pending_identifier !== null) {
      target = Number(c.pending_quantity); // resend the step a crash left unconfirmed
      identifier = c.pending_identifier;
    } else {
      target = Number(c.quantity);
      identifier = meterIdentifier(c.user_id, c.metric, periodStart, reported, target);
      const claimed = await sql`
        insert into usage_meter_reports (user_id, metric, period_start, customer_id, reported_quantity, pending_quantity, pending_identifier)
        values (${c.user_id}, ${c.metric}, ${periodIso}::timestamptz, ${c.customer_id}, 0, ${target}, ${identifier})
        on conflict (user_id, metric, period_start) do update
          set pending_quantity = excluded.pending_quantity, pending_identifier = excluded.pending_identifier,
              customer_id = excluded.customer_id, updated_at = now()
          where usage_meter_reports.pending_quantity is null and usage_meter_reports.reported_quantity = ${reported}
        returning 1`;
      if (claimed.length === 0) continue; // another reporter owns this step
    }
    const { timestamp, pastWindow } = meterEventTimestamp(
      new Date(c.usage_ms ?? periodStart.getTime()),
      now,
    );
    if (pastWindow) {
      log.warn(
        { userId: c.user_id, metric: c.metric, usageAt: new Date(c.usage_ms).toISOString() },
        'usage older than Stripe accepts for a meter event; sent at the oldest accepted time',
      );
    }
    try {
      await stripe.billing.meterEvents.create(
        {
          event_name: options.meters[c.metric]!,
          payload: { stripe_customer_id: c.customer_id, value: String(target - reported) },
          identifier,
          timestamp,
        },
        { idempotencyKey: identifier },
      );
      await sql`
        update usage_meter_reports
        set reported_quantity = pending_quantity, pending_quantity = null, pending_identifier = null, updated_at = now()
        where user_id = ${c.user_id} and metric = ${c.metric} and period_start = ${periodIso}::timestamptz
          and pending_identifier = ${identifier}`;
      result.sent++;
      if (pastWindow) result.pastWindow++;
    } catch (error) {
      result.failed++;
      log.warn(
        { err: error, userId: c.user_id, metric: c.metric },
        'meter event not sent; stays pending',
      );
    }
  }
  return result;
}
