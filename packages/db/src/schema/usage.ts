import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { timestamptz } from './columns.js';

/**
 * Append-only usage records. Corrections are new rows with a negative quantity whose
 * `corrects_key` points at the original's idempotency key. `rollup_id` is set by the
 * roll-up's own transaction (UPDATE … RETURNING), so the split between rolled-up rows and
 * the live tail follows commit visibility, never a timestamp or the serial id.
 */
export const usageLedger = pgTable(
  'usage_ledger',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: text('user_id').notNull(),
    metric: text('metric').notNull(),
    quantity: bigint('quantity', { mode: 'number' }).notNull(),
    occurredAt: timestamptz('occurred_at').notNull(),
    /** Start of the billing period the record belongs to (from occurred_at and the user's subscription). */
    periodStart: timestamptz('period_start').notNull(),
    idempotencyKey: text('idempotency_key').notNull(),
    correctsKey: text('corrects_key'),
    /**
     * Set when a record arrived after its own period closed (past the grace window) and was
     * booked as an adjustment in the current period: the period it really belongs to.
     */
    originalPeriodStart: timestamptz('original_period_start'),
    rollupId: bigint('rollup_id', { mode: 'number' }),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    receivedAt: timestamptz('received_at').notNull().defaultNow(),
  },
  (t) => [
    // exactly-once ingestion: ON CONFLICT (user_id, idempotency_key) DO NOTHING
    uniqueIndex('usage_ledger_user_key_key').on(t.userId, t.idempotencyKey),
    // usage of a user over a time range (reports, per-day charts)
    index('usage_ledger_user_time_idx').on(t.userId, t.occurredAt).where(sql`${t.quantity} > 0`),
    // "used so far": the live tail of a user's period, rows not yet rolled up; quantity is
    // the last key column so the SUM is an index-only scan
    index('usage_ledger_tail_idx')
      .on(t.userId, t.metric, t.periodStart, t.quantity)
      .where(sql`${t.rollupId} is null`),
    // correction checks: the corrections already booked against one original
    index('usage_ledger_corrects_idx')
      .on(t.userId, t.correctsKey)
      .where(sql`${t.correctsKey} is not null`),
  ],
);

/** Rolled-up usage per user, metric and billing period. */
export const usageAggregates = pgTable(
  'usage_aggregates',
  {
    userId: text('user_id').notNull(),
    metric: text('metric').notNull(),
    periodStart: timestamptz('period_start').notNull(),
    quantity: bigint('quantity', { mode: 'number' }).notNull(),
    recordCount: bigint('record_count', { mode: 'number' }).notNull(),
    /** The last roll-up that folded rows into this total (the ledger watermark it covers). */
    lastRollupId: bigint('last_rollup_id', { mode: 'number' }).notNull(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    // usage by user and period: the rolled-up half of "used so far"
    primaryKey({ name: 'usage_aggregates_pkey', columns: [t.userId, t.metric, t.periodStart] }),
  ],
);

/**
 * One row per roll-up run: progress, and the id that claims ledger rows. Status is
 * `running`, `completed`, `aborted` or `failed`; a run killed outright stays `running`
 * (its committed chunks are complete, the rest is picked up by the next run).
 */
export const usageRollups = pgTable('usage_rollups', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  userId: text('user_id'),
  status: text('status').notNull().default('running'),
  rowsClaimed: bigint('rows_claimed', { mode: 'number' }).notNull().default(0),
  chunks: bigint('chunks', { mode: 'number' }).notNull().default(0),
  /**
   * Highest ledger id when the run started. It only bounds how long one run goes on under
   * continuous ingestion; which rows are rolled up is decided by `rollup_id`, never by it.
   */
  ledgerBound: bigint('ledger_bound', { mode: 'number' }),
  startedAt: timestamptz('started_at').notNull().defaultNow(),
  finishedAt: timestamptz('finished_at'),
  error: text('error'),
});

/**
 * What has been reported to Stripe Billing Meters per (user, metric, period) (optional
 * feature, off by default). A report sends `aggregate − reported_quantity` as one meter event
 * whose identifier is derived from (group, from, to); `pending_*` is written before the call,
 * so a crash between the call and the bookkeeping resends the same identifier (Stripe
 * dedupes it) instead of a new one.
 */
export const usageMeterReports = pgTable(
  'usage_meter_reports',
  {
    userId: text('user_id').notNull(),
    metric: text('metric').notNull(),
    periodStart: timestamptz('period_start').notNull(),
    customerId: text('customer_id'),
    reportedQuantity: bigint('reported_quantity', { mode: 'number' }).notNull().default(0),
    pendingQuantity: bigint('pending_quantity', { mode: 'number' }),
    pendingIdentifier: text('pending_identifier'),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    // the report state of one aggregate row (joined on the same key)
    primaryKey({ name: 'usage_meter_reports_pkey', columns: [t.userId, t.metric, t.periodStart] }),
  ],
);
