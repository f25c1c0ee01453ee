import { describe, expect, it } from 'vitest';
import {
  addMonthsUtc,
  anchorFromSubscription,
  freePeriodAt,
  periodAt,
  subscriptionPeriodAt,
} from './period.js';

const d = (iso: string) => new Date(iso);
const iso = (p: { start: Date; end: Date }) => [p.start.toISOString(), p.end.toISOString()];
const free = { freePeriod: 'calendar_month' as const, freeEpoch: d('2024-01-01T00:00:00Z') };

describe('addMonthsUtc', () => {
  it('clamps to the end of shorter months like Stripe billing anchors', () => {
    expect(addMonthsUtc(d('2026-01-31T10:00:00Z'), 1).toISOString()).toBe(
      '2026-02-28T10:00:00.000Z',
    );
    expect(addMonthsUtc(d('2026-01-31T10:00:00Z'), 2).toISOString()).toBe(
      '2026-03-31T10:00:00.000Z',
    );
    expect(addMonthsUtc(d('2026-03-31T10:00:00Z'), -1).toISOString()).toBe(
      '2026-02-28T10:00:00.000Z',
    );
    expect(addMonthsUtc(d('2024-02-29T00:00:00Z'), 12).toISOString()).toBe(
      '2025-02-28T00:00:00.000Z',
    );
  });
});

describe('subscription periods', () => {
  const monthly = anchorFromSubscription({
    currentPeriodStart: d('2026-03-15T08:00:00Z'),
    currentPeriodEnd: d('2026-04-15T08:00:00Z'),
    interval: 'month',
    createdAt: d('2025-11-15T08:00:00Z'),
  });

  it('uses the current period for a time inside it', () => {
    expect(iso(subscriptionPeriodAt(monthly, d('2026-03-20T00:00:00Z')))).toEqual([
      '2026-03-15T08:00:00.000Z',
      '2026-04-15T08:00:00.000Z',
    ]);
  });

  it('steps back by the interval for an earlier time', () => {
    expect(iso(subscriptionPeriodAt(monthly, d('2026-03-15T07:59:59Z')))).toEqual([
      '2026-02-15T08:00:00.000Z',
      '2026-03-15T08:00:00.000Z',
    ]);
    expect(iso(subscriptionPeriodAt(monthly, d('2025-12-01T00:00:00Z')))).toEqual([
      '2025-11-15T08:00:00.000Z',
      '2025-12-15T08:00:00.000Z',
    ]);
  });

  it('steps forward from the current period end when the stored period is stale', () => {
    expect(iso(subscriptionPeriodAt(monthly, d('2026-06-01T00:00:00Z')))).toEqual([
      '2026-05-15T08:00:00.000Z',
      '2026-06-15T08:00:00.000Z',
    ]);
  });

  it('derives interval_count from the current period (quarterly) and the unit when the column is empty', () => {
    const quarterly = anchorFromSubscription({
      currentPeriodStart: d('2026-01-01T00:00:00Z'),
      currentPeriodEnd: d('2026-04-01T00:00:00Z'),
      interval: 'month',
      createdAt: null,
    });
    expect(quarterly.count).toBe(3);
    expect(iso(subscriptionPeriodAt(quarterly, d('2026-05-01T00:00:00Z')))).toEqual([
      '2026-04-01T00:00:00.000Z',
      '2026-07-01T00:00:00.000Z',
    ]);
    const yearly = anchorFromSubscription({
      currentPeriodStart: d('2026-01-01T00:00:00Z'),
      currentPeriodEnd: d('2027-01-01T00:00:00Z'),
      interval: null,
      createdAt: null,
    });
    expect(yearly).toMatchObject({ unit: 'year', count: 1 });
  });

  it('keeps a month-end anchor across short months, in both directions', () => {
    // Anchored on the 31st, stored period Feb 28 → Mar 31: Stripe's next periods are
    // Mar 31 → Apr 30 → May 31 and its previous one Jan 31 → Feb 28. Stepping from the stored
    // boundaries without the anchor day gave Apr 30 → May 30 and Jan 28 → Feb 28.
    const endOfMonth = anchorFromSubscription({
      currentPeriodStart: d('2026-02-28T12:00:00Z'),
      currentPeriodEnd: d('2026-03-31T12:00:00Z'),
      interval: 'month',
      createdAt: d('2025-10-31T12:00:00Z'),
    });
    expect(endOfMonth.anchorDay).toBe(31);
    expect(iso(subscriptionPeriodAt(endOfMonth, d('2026-05-15T00:00:00Z')))).toEqual([
      '2026-04-30T12:00:00.000Z',
      '2026-05-31T12:00:00.000Z',
    ]);
    expect(iso(subscriptionPeriodAt(endOfMonth, d('2026-05-31T00:00:00Z')))).toEqual([
      '2026-04-30T12:00:00.000Z',
      '2026-05-31T12:00:00.000Z',
    ]);
    expect(iso(subscriptionPeriodAt(endOfMonth, d('2026-02-01T00:00:00Z')))).toEqual([
      '2026-01-31T12:00:00.000Z',
      '2026-02-28T12:00:00.000Z',
    ]);
    expect(iso(subscriptionPeriodAt(endOfMonth, d('2026-01-30T00:00:00Z')))).toEqual([
      '2025-12-31T12:00:00.000Z',
      '2026-01-31T12:00:00.000Z',
    ]);
  });

  it('reads the anchor day from whichever boundary is not clamped (29th, 30th)', () => {
    const on29 = anchorFromSubscription({
      currentPeriodStart: d('2026-01-29T00:00:00Z'),
      currentPeriodEnd: d('2026-02-28T00:00:00Z'),
      interval: 'month',
      createdAt: null,
    });
    expect(on29.anchorDay).toBe(29);
    expect(iso(subscriptionPeriodAt(on29, d('2026-03-10T00:00:00Z')))).toEqual([
      '2026-02-28T00:00:00.000Z',
      '2026-03-29T00:00:00.000Z',
    ]);
    const on30 = anchorFromSubscription({
      currentPeriodStart: d('2026-04-30T00:00:00Z'),
      currentPeriodEnd: d('2026-05-30T00:00:00Z'),
      interval: 'month',
      createdAt: null,
    });
    expect(iso(subscriptionPeriodAt(on30, d('2027-02-28T01:00:00Z')))).toEqual([
      '2027-02-28T00:00:00.000Z',
      '2027-03-30T00:00:00.000Z',
    ]);
    const leapYearly = anchorFromSubscription({
      currentPeriodStart: d('2027-02-28T00:00:00Z'),
      currentPeriodEnd: d('2028-02-29T00:00:00Z'),
      interval: 'year',
      createdAt: null,
    });
    expect(iso(subscriptionPeriodAt(leapYearly, d('2026-06-01T00:00:00Z')))).toEqual([
      '2026-02-28T00:00:00.000Z',
      '2027-02-28T00:00:00.000Z',
    ]);
  });

  it('puts usage from before the subscription existed into free periods', () => {
    const period = periodAt(monthly, d('2025-10-20T00:00:00Z'), free);
    expect(period.source).toBe('free');
    expect(iso(period)).toEqual(['2025-10-01T00:00:00.000Z', '2025-11-01T00:00:00.000Z']);
  });
});

describe('free periods', () => {
  it('calendar_month: the UTC calendar month', () => {
    expect(iso(freePeriodAt(d('2026-02-28T23:59:59Z'), free))).toEqual([
      '2026-02-01T00:00:00.000Z',
      '2026-03-01T00:00:00.000Z',
    ]);
  });

  it('rolling_30d: 30-day windows counted from the epoch, also before it', () => {
    const rule = { freePeriod: 'rolling_30d' as const, freeEpoch: d('2024-01-01T00:00:00Z') };
    expect(iso(freePeriodAt(d('2024-01-31T00:00:00Z'), rule))).toEqual([
      '2024-01-31T00:00:00.000Z',
      '2024-03-01T00:00:00.000Z',
    ]);
    expect(iso(freePeriodAt(d('2023-12-31T00:00:00Z'), rule))).toEqual([
      '2023-12-02T00:00:00.000Z',
      '2024-01-01T00:00:00.000Z',
    ]);
  });
});
