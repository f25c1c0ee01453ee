import { createDb } from '@billing/db';
import { useTestServices } from '@billing/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ingestUsage } from '../src/ingest.js';
import { resolvePeriod } from '../src/period.js';
import { getUsageSnapshot, usedInPeriod } from '../src/snapshot.js';
import { insertSubscription, METRICS, mulberry32, record, testConfig } from './helpers.js';

const services = await useTestServices('usage-ingest');
const { sql, close } = createDb({ url: services.databaseUrl, max: 12 });
afterAll(() => close());

const now = new Date('2026-03-20T12:00:00Z');
const config = testConfig();
const ingest = (records: unknown[], atomic = false, at = now, cfg = config) =>
  ingestUsage(sql, records, { atomic, metrics: METRICS, now: at, config: cfg });

const ledgerRows = (userId: string) =>
  sql<
    {
      idempotency_key: string;
      quantity: string;
      period_start: string;
      original_period_start: string | null;
    }[]
  >`
    select idempotency_key, quantity::text,
           to_char(period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as period_start,
           to_char(original_period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as original_period_start
    from usage_ledger
    where user_id = ${userId} order by idempotency_key`;

describe('exactly-once ingestion', () => {
  it('a record retried 20 times concurrently is stored once and reported as 19 duplicates', async () => {
    const r = record('u_retry', 'req-1', 7, '2026-03-20T11:00:00Z');
    const results = await Promise.all(Array.from({ length: 20 }, () => ingest([r])));
    expect(results.reduce((n, x) => n + x.accepted, 0)).toBe(1);
    expect(results.reduce((n, x) => n + x.duplicates, 0)).toBe(19);
    const [row] =
      await sql`select count(*)::int as n, sum(quantity)::int as total from usage_ledger where user_id = 'u_retry'`;
    expect(row).toEqual({ n: 1, total: 7 });
  });

  it('a 100-record batch retried 20 times concurrently, in shuffled orders, counts every key once', async () => {
    const batch = Array.from({ length: 100 }, (_, i) =>
      record('u_batch', `b-${i}`, 1, '2026-03-20T10:00:00Z'),
    );
    const shuffled = (seed: number) => {
      const random = mulberry32(seed);
      return batch
        .map((r) => ({ r, k: random() }))
        .sort((a, b) => a.k - b.k)
        .map(({ r }) => r);
    };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => ingest(shuffled(i))));
    expect(results.reduce((n, x) => n + x.accepted, 0)).toBe(100);
    expect(results.reduce((n, x) => n + x.duplicates, 0)).toBe(1900);
    expect(results.every((x) => x.rejected.length === 0)).toBe(true);
    const [row] = await sql`select count(*)::int as n from usage_ledger where user_id = 'u_batch'`;
    expect(row?.n).toBe(100);
  });

  it('a key repeated inside one batch is stored once and the repeat counted as a duplicate', async () => {
    const r = record('u_inbatch', 'same', 2, '2026-03-20T11:00:00Z');
    const result = await ingest([r, { ...r, quantity: 5 }]);
    expect(result).toMatchObject({ accepted: 1, duplicates: 1, rejected: [] });
    expect((await ledgerRows('u_inbatch')).map((x) => x.quantity)).toEqual(['2']);
  });

  it('the same key for two different users is two records', async () => {
    const result = await ingest([record('u_a', 'k', 1, now), record('u_b', 'k', 1, now)]);
    expect(result).toMatchObject({
      accepted: 2,
      duplicates: 0,
      affectedUserIds: expect.arrayContaining(['u_a', 'u_b']),
    });
  });
});

describe('bad records and the atomic flag', () => {
  const at = '2026-03-20T11:00:00Z';
  const bad = [
    record('u_bad', 'ok-1', 1, at),
    record('u_bad', 'x-metric', 1, at, 'gpu_hours'),
    record('u_bad', 'x-negative', -4, at),
    record('u_bad', 'x-fraction', 1.25, at),
    record('u_bad', 'x-future', 1, '2026-03-21T12:00:00Z'),
    { userId: 'u_bad', metric: 'compute_minutes', quantity: 1, occurredAt: at },
    record('u_bad', 'k'.repeat(300), 1, at),
    record('u_bad', 'ok-2', 2, at),
  ];
  const reasons = [
    { index: 1, error: 'unknown_metric' },
    { index: 2, error: 'negative_quantity' },
    { index: 3, error: 'non_integer_quantity' },
    { index: 4, error: 'occurred_in_future' },
    { index: 5, error: 'missing_idempotency_key' },
    { index: 6, error: 'idempotency_key_too_long' },
  ];

  it('atomic=false stores the valid records and rejects unknown metric, negative, fractional, future and missing/oversized key each with its reason', async () => {
    const result = await ingest(bad, false);
    expect(result.accepted).toBe(2);
    expect(result.duplicates).toBe(0);
    expect(result.rejected).toEqual(reasons);
    expect(result.affectedUserIds).toEqual(['u_bad']);
    expect((await ledgerRows('u_bad')).map((x) => x.idempotency_key)).toEqual(['ok-1', 'ok-2']);
  });

  it('atomic=true with one bad record stores nothing and marks the others batch_rejected', async () => {
    const records = bad.map((r) => ({ ...r, userId: 'u_atomic' }));
    const result = await ingest(records, true);
    expect(result.accepted).toBe(0);
    expect(result.affectedUserIds).toEqual([]);
    expect(result.rejected).toEqual([
      { index: 0, error: 'batch_rejected' },
      ...reasons,
      { index: 7, error: 'batch_rejected' },
    ]);
    expect(await ledgerRows('u_atomic')).toEqual([]);
  });

  it('atomic=true with only valid records and a duplicate stores the valid ones', async () => {
    await ingest([record('u_atomic_ok', 'first', 1, at)]);
    const result = await ingest(
      [record('u_atomic_ok', 'first', 1, at), record('u_atomic_ok', 'second', 3, at)],
      true,
    );
    expect(result).toMatchObject({ accepted: 1, duplicates: 1, rejected: [] });
  });
});

describe('corrections', () => {
  const at = '2026-03-20T09:00:00Z';

  it('a negative record naming an existing original is stored and lowers usage', async () => {
    await ingest([record('u_fix', 'orig', 10, at)]);
    const result = await ingest([
      record('u_fix', 'fix-1', -4, at, 'compute_minutes', { correctsKey: 'orig' }),
    ]);
    expect(result).toMatchObject({ accepted: 1, rejected: [] });
    const period = await resolvePeriod(sql, 'u_fix', now, config);
    expect(await usedInPeriod(sql, 'u_fix', 'compute_minutes', period.start)).toBe(6);
  });

  it('rejects a correction naming a key that was never stored', async () => {
    const result = await ingest([
      record('u_fix2', 'fix', -1, at, 'compute_minutes', { correctsKey: 'nope' }),
    ]);
    expect(result.rejected).toEqual([{ index: 0, error: 'correction_target_not_found' }]);
  });

  it('rejects a correction of another metric, a correction of a correction, and one exceeding the original', async () => {
    await ingest([record('u_fix3', 'orig', 5, at)]);
    await ingest([record('u_fix3', 'fix-a', -2, at, 'compute_minutes', { correctsKey: 'orig' })]);
    const result = await ingest([
      record('u_fix3', 'fix-b', -1, at, 'api_requests', { correctsKey: 'orig' }),
      record('u_fix3', 'fix-c', -1, at, 'compute_minutes', { correctsKey: 'fix-a' }),
      record('u_fix3', 'fix-d', -4, at, 'compute_minutes', { correctsKey: 'orig' }),
      record('u_fix3', 'fix-e', -3, at, 'compute_minutes', { correctsKey: 'orig' }),
    ]);
    expect(result.rejected).toEqual([
      { index: 0, error: 'correction_metric_mismatch' },
      { index: 1, error: 'correction_of_correction' },
      { index: 2, error: 'correction_exceeds_original' },
    ]);
    expect(result.accepted).toBe(1); // fix-e takes the original to exactly zero
  });

  it('20 concurrent corrections of -1 against an original of 5 admit exactly 5', async () => {
    await ingest([record('u_fix4', 'orig', 5, at)]);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        ingest([record('u_fix4', `fix-${i}`, -1, at, 'compute_minutes', { correctsKey: 'orig' })]),
      ),
    );
    expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(5);
    expect(results.flatMap((r) => r.rejected.map((x) => x.error))).toEqual(
      Array(15).fill('correction_exceeds_original'),
    );
    const [row] =
      await sql`select sum(quantity)::int as total from usage_ledger where user_id = 'u_fix4'`;
    expect(row?.total).toBe(0);
  });

  it('a retried correction is a duplicate, not an over-correction', async () => {
    await ingest([record('u_fix5', 'orig', 3, at)]);
    const fix = record('u_fix5', 'fix', -3, at, 'compute_minutes', { correctsKey: 'orig' });
    expect(await ingest([fix])).toMatchObject({ accepted: 1 });
    expect(await ingest([fix])).toMatchObject({ accepted: 0, duplicates: 1, rejected: [] });
  });
});

describe('billing periods', () => {
  it('books a subscriber by the subscription period, stepping back by the interval for an earlier time', async () => {
    await insertSubscription(sql, {
      userId: 'u_sub',
      start: new Date('2026-03-15T08:00:00Z'),
      end: new Date('2026-04-15T08:00:00Z'),
      createdAt: new Date('2025-12-15T08:00:00Z'),
    });
    // 2026-03-16: the period that ended on 03-15 08:00 is still within the 48 h grace window
    const at = new Date('2026-03-16T12:00:00Z');
    await ingest(
      [
        record('u_sub', 'now', 1, '2026-03-16T10:00:00Z'),
        record('u_sub', 'before', 1, '2026-03-15T07:00:00Z'),
      ],
      false,
      at,
    );
    const rows = await ledgerRows('u_sub');
    expect(rows.map((r) => [r.idempotency_key, r.period_start])).toEqual([
      ['before', '2026-02-15T08:00:00Z'],
      ['now', '2026-03-15T08:00:00Z'],
    ]);
    const snapshot = await getUsageSnapshot(sql, {
      userId: 'u_sub',
      metric: 'compute_minutes',
      now,
      config,
    });
    expect(snapshot).toEqual({
      used: 1,
      periodStart: new Date('2026-03-15T08:00:00Z'),
      periodEnd: new Date('2026-04-15T08:00:00Z'),
      source: 'subscription',
    });
  });

  it('books a free user by the calendar month (USAGE_FREE_PERIOD=calendar_month)', async () => {
    await ingest([record('u_free', 'a', 4, '2026-03-01T00:00:00Z')]);
    const snapshot = await getUsageSnapshot(sql, {
      userId: 'u_free',
      metric: 'compute_minutes',
      now,
      config,
    });
    expect(snapshot).toMatchObject({
      used: 4,
      source: 'free',
      periodStart: new Date('2026-03-01T00:00:00Z'),
    });
  });

  it('books a free user by 30-day windows from the epoch (USAGE_FREE_PERIOD=rolling_30d)', async () => {
    const rolling = testConfig({ freePeriod: 'rolling_30d' });
    await ingest([record('u_free30', 'a', 4, '2026-03-20T10:00:00Z')], false, now, rolling);
    const snapshot = await getUsageSnapshot(sql, {
      userId: 'u_free30',
      metric: 'compute_minutes',
      now,
      config: rolling,
    });
    // 2024-01-01 + 26 × 30 days = 2026-02-19
    expect(snapshot).toMatchObject({
      used: 4,
      source: 'free',
      periodStart: new Date('2026-02-19T00:00:00Z'),
    });
  });

  it('books a record of a period closed less than the grace window ago into that period', async () => {
    const early = new Date('2026-04-01T20:00:00Z'); // March ended 20 h ago, grace is 48 h
    await ingest([record('u_late', 'in-grace', 3, '2026-03-31T23:00:00Z')], false, early);
    const [row] = await ledgerRows('u_late');
    expect(row?.period_start).toBe('2026-03-01T00:00:00Z');
    expect(row?.original_period_start).toBeNull();
  });

  it('books a record of a period closed beyond the grace window as an adjustment in the current period (policy adjust)', async () => {
    const later = new Date('2026-04-05T00:00:00Z');
    const result = await ingest(
      [record('u_late2', 'past-grace', 3, '2026-03-31T23:00:00Z')],
      false,
      later,
    );
    expect(result.accepted).toBe(1);
    const [row] = await ledgerRows('u_late2');
    expect(row?.period_start).toBe('2026-04-01T00:00:00Z');
    expect(row?.original_period_start).toBe('2026-03-01T00:00:00Z');
  });

  it('rejects a record of a period closed beyond the grace window with period_closed (policy reject)', async () => {
    const later = new Date('2026-04-05T00:00:00Z');
    const result = await ingest(
      [
        record('u_late3', 'past-grace', 3, '2026-03-31T23:00:00Z'),
        record('u_late3', 'fresh', 1, later),
      ],
      false,
      later,
      testConfig({ latePolicy: 'reject' }),
    );
    expect(result).toMatchObject({ accepted: 1, rejected: [{ index: 0, error: 'period_closed' }] });
  });
});
