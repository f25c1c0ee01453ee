import { LIVE_SUBSCRIPTION_STATUSES, type Sql } from '@billing/db';
import { defaultUsageConfig, type UsageConfig } from './env.js';

/** A billing period [start, end). */
export interface BillingPeriod {
  start: Date;
  end: Date;
  /** `subscription`: from the user's live subscription; `free`: the configured free rule. */
  source: 'subscription' | 'free';
}

export type IntervalUnit = 'day' | 'week' | 'month' | 'year';

/** What a live subscription says about a user's periods. */
export interface BillingAnchor {
  currentPeriodStart: Date;
  currentPeriodEnd: Date;
  unit: IntervalUnit;
  /** Units per period (Stripe's interval_count), derived from the current period's length. */
  count: number;
  /** When the subscription began; usage before it belongs to the free rule's periods. */
  createdAt: Date | null;
  /**
   * Day of the month every period of a monthly/yearly plan starts on, before clamping to
   * shorter months (Stripe's billing cycle anchor day): a plan anchored on the 31st runs
   * Jan 31 → Feb 28 → Mar 31, not Feb 28 → Mar 28. Null for day/week plans.
   */
  anchorDay: number | null;
}

const DAY_MS = 86_400_000;
const THIRTY_DAYS_MS = 30 * DAY_MS;

const daysInMonthUtc = (year: number, month: number) =>
  new Date(Date.UTC(year, month + 1, 0)).getUTCDate();

/** Adds whole months in UTC, clamping the day (Jan 31 + 1 month = Feb 28/29), as Stripe does. */
export function addMonthsUtc(date: Date, months: number, anchorDay = date.getUTCDate()): Date {
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth() + months;
  const targetYear = year + Math.floor(month / 12);
  const targetMonth = ((month % 12) + 12) % 12;
  const day = Math.min(anchorDay, daysInMonthUtc(targetYear, targetMonth));
  return new Date(
    Date.UTC(
      targetYear,
      targetMonth,
      day,
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
      date.getUTCMilliseconds(),
    ),
  );
}

/** `date` moved by n units; months and years land on `anchorDay`, clamped to the month. */
export function addUnits(
  date: Date,
  unit: IntervalUnit,
  n: number,
  anchorDay = date.getUTCDate(),
): Date {
  switch (unit) {
    case 'day':
      return new Date(date.getTime() + n * DAY_MS);
    case 'week':
      return new Date(date.getTime() + n * 7 * DAY_MS);
    case 'month':
      return addMonthsUtc(date, n, anchorDay);
    case 'year':
      return addMonthsUtc(date, 12 * n, anchorDay);
  }
}

const APPROX_UNIT_MS: Record<IntervalUnit, number> = {
  day: DAY_MS,
  week: 7 * DAY_MS,
  month: 30.436875 * DAY_MS,
  year: 365.2425 * DAY_MS,
};

/** Interpretation of the `subscriptions.interval` column plus the current period's length. */
export function anchorFromSubscription(row: {
  currentPeriodStart: Date;
  currentPeriodEnd: Date;
  interval: string | null;
  createdAt: Date | null;
}): BillingAnchor {
  const length = row.currentPeriodEnd.getTime() - row.currentPeriodStart.getTime();
  const unit: IntervalUnit =
    row.interval === 'day' ||
    row.interval === 'week' ||
    row.interval === 'month' ||
    row.interval === 'year'
      ? row.interval
      : length >= 360 * DAY_MS
        ? 'year'
        : length >= 27 * DAY_MS
          ? 'month'
          : length >= 7 * DAY_MS
            ? 'week'
            : 'day';
  const count = Math.max(1, Math.round(length / APPROX_UNIT_MS[unit]));
  // Of two consecutive period boundaries at most one is clamped (no two adjacent months are
  // both shorter than the anchor day), so the later of the two days is the anchor day.
  const anchorDay =
    unit === 'month' || unit === 'year'
      ? Math.max(row.currentPeriodStart.getUTCDate(), row.currentPeriodEnd.getUTCDate())
      : null;
  return {
    currentPeriodStart: row.currentPeriodStart,
    currentPeriodEnd: row.currentPeriodEnd,
    unit,
    count,
    createdAt: row.createdAt,
    anchorDay,
  };
}

/**
 * Index k such that base + k·step <= at < base + (k+1)·step: an estimate from the average
 * unit length, then corrected (months differ in length).
 */
function stepIndex(
  base: Date,
  at: Date,
  unit: IntervalUnit,
  count: number,
  anchorDay: number | undefined,
): number {
  const step = (k: number) => addUnits(base, unit, k * count, anchorDay).getTime();
  let k = Math.floor((at.getTime() - base.getTime()) / (APPROX_UNIT_MS[unit] * count));
  while (step(k) > at.getTime()) k--;
  while (step(k + 1) <= at.getTime()) k++;
  return k;
}

/**
 * The subscription period containing `at`: the current period itself, or one stepped
 * forward from its end / back from its start by the subscription's interval. Periods
 * outside the current one are extrapolated (a past plan change is not known here); rows keep
 * the period_start they were booked with, so a later change never moves booked usage.
 */
export function subscriptionPeriodAt(anchor: BillingAnchor, at: Date): BillingPeriod {
  const { currentPeriodStart: start, currentPeriodEnd: end, unit, count } = anchor;
  const anchorDay = anchor.anchorDay ?? undefined;
  const t = at.getTime();
  if (t >= start.getTime() && t < end.getTime()) return { start, end, source: 'subscription' };
  const base = t >= end.getTime() ? end : start;
  const k = stepIndex(base, at, unit, count, anchorDay);
  return {
    start: addUnits(base, unit, k * count, anchorDay),
    end: addUnits(base, unit, (k + 1) * count, anchorDay),
    source: 'subscription',
  };
}

/** The free rule's period containing `at`. */
export function freePeriodAt(
  at: Date,
  config: Pick<UsageConfig, 'freePeriod' | 'freeEpoch'>,
): BillingPeriod {
  if (config.freePeriod === 'rolling_30d') {
    const epoch = config.freeEpoch.getTime();
    const k = Math.floor((at.getTime() - epoch) / THIRTY_DAYS_MS);
    return {
      start: new Date(epoch + k * THIRTY_DAYS_MS),
      end: new Date(epoch + (k + 1) * THIRTY_DAYS_MS),
      source: 'free',
    };
  }
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  return { start, end: addMonthsUtc(start, 1), source: 'free' };
}

/** The period containing `at` for a user with `anchor` (undefined: no live subscription). */
export function periodAt(
  anchor: BillingAnchor | undefined,
  at: Date,
  config: Pick<UsageConfig, 'freePeriod' | 'freeEpoch'>,
): BillingPeriod {
  if (!anchor) return freePeriodAt(at, config);
  // Usage from before the subscription existed belongs to the free periods of that time.
  if (
    anchor.createdAt &&
    at.getTime() < anchor.createdAt.getTime() &&
    at.getTime() < anchor.currentPeriodStart.getTime()
  ) {
    return freePeriodAt(at, config);
  }
  return subscriptionPeriodAt(anchor, at);
}

/**
 * The live subscription of each user (newest first, as the API reads it), in one query on
 * `subscriptions_active_by_user_idx`. Users without one are absent from the map.
 */
export async function loadBillingAnchors(
  sql: Sql,
  userIds: readonly string[],
): Promise<Map<string, BillingAnchor>> {
  const anchors = new Map<string, BillingAnchor>();
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return anchors;
  // Times come back as epoch milliseconds: the client may be the one Drizzle wraps, which
  // returns timestamps as strings instead of Dates.
  const rows = await sql<
    {
      user_id: string;
      start_ms: number;
      end_ms: number;
      interval: string | null;
      created_ms: number | null;
    }[]
  >`
    select distinct on (user_id) user_id,
           (extract(epoch from current_period_start) * 1000)::float8 as start_ms,
           (extract(epoch from current_period_end) * 1000)::float8 as end_ms,
           interval,
           (extract(epoch from created_at) * 1000)::float8 as created_ms
    from subscriptions
    where user_id = any(${ids}::text[])
      and status in ${sql([...LIVE_SUBSCRIPTION_STATUSES])}
      and current_period_start is not null
      and current_period_end > current_period_start
    order by user_id, created_at desc nulls last`;
  for (const row of rows) {
    anchors.set(
      row.user_id,
      anchorFromSubscription({
        currentPeriodStart: new Date(row.start_ms),
        currentPeriodEnd: new Date(row.end_ms),
        interval: row.interval,
        createdAt: row.created_ms === null ? null : new Date(row.created_ms),
      }),
    );
  }
  return anchors;
}

/** The billing period of `userId` that contains `at`. */
export async function resolvePeriod(
  sql: Sql,
  userId: string,
  at: Date,
  config: Pick<UsageConfig, 'freePeriod' | 'freeEpoch'> = defaultUsageConfig(),
): Promise<BillingPeriod> {
  const anchors = await loadBillingAnchors(sql, [userId]);
  return periodAt(anchors.get(userId), at, config);
}
