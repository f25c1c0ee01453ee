import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  customType,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { timestamptz } from './columns.js';

/**
 * Postgres' 64-bit transaction id (epoch-extended, never wraps around), as text: values pass
 * 2^53 once the epoch is large, so they never become JS numbers.
 */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

/**
 * Append-only usage records. Corrections are new rows with a negative quantity whose
 * `corrects_key` points at the original's idempotency key. Rows are never updated: `txid`
 * (the writing transaction's id) decides whether a row is already in its group's
 * `usage_aggregates` total (`txid < through_txid`) or in the live tail, so the split follows
 * commit visibility, never a timestamp or the serial id (see packages/usage/README.md).
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
    /**
     * The inserting transaction's id. Every transaction below a roll-up's horizon
     * (`pg_snapshot_xmin` at its start) had finished, so rows under it are all visible.
     */
    txid: xid8('txid').notNull().default(sql`pg_current_xact_id()`),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    receivedAt: timestamptz('received_at').notNull().defaultNow(),
  },
  (t) => [
    // exactly-once ingestion: ON CONFLICT (user_id, idempotency_key) DO NOTHING
    uniqueIndex('usage_ledger_user_key_key').on(t.userId, t.idempotencyKey),
    // usage of a user over a time range (reports, per-day charts)
    index('usage_ledger_user_time_idx').on(t.userId, t.occurredAt).where(sql`${t.quantity} > 0`),
    // "used so far": the tail of one (user, metric, period), txid >= the aggregate's
    // through_txid, as a range scan; also a one-user roll-up's scan. quantity is a trailing key
    // column (drizzle cannot declare INCLUDE; for a range read it costs the same), so the SUM
    // is an index-only scan
    index('usage_ledger_group_txid_idx').on(t.userId, t.metric, t.periodStart, t.txid, t.quantity),
    // the roll-up: chunk bounds (rows in txid order) and each chunk's rows, txid in [from, to)
    index('usage_ledger_txid_idx').on(t.txid),
    // correction checks: the corrections already booked against one original
    index('usage_ledger_corrects_idx')
      .on(t.userId, t.correctsKey)
      .where(sql`${t.correctsKey} is not null`),
  ],
);

/**
 * Rolled-up usage per user, metric and billing period: `quantity` (and `record_count`) is
 * exactly the SUM (COUNT) of the group's ledger rows with `txid < through_txid`. A roll-up
 * chunk changes both in one update, so any snapshot sees a matching pair.
 */
export const usageAggregates = pgTable(
  'usage_aggregates',
  {
    userId: text('user_id').notNull(),
    metric: text('metric').notNull(),
    periodStart: timestamptz('period_start').notNull(),
    quantity: bigint('quantity', { mode: 'number' }).notNull(),
    recordCount: bigint('record_count', { mode: 'number' }).notNull(),
    /** Rows of this group with a lower txid are in the total; the rest is the live tail. */
    throughTxid: xid8('through_txid').notNull(),
    /** The last roll-up run that folded rows into this total (for ops). */
    lastRollupId: bigint('last_rollup_id', { mode: 'number' }).notNull(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    // usage by user and period: the rolled-up half of "used so far"
    primaryKey({ name: 'usage_aggregates_pkey', columns: [t.userId, t.metric, t.periodStart] }),
  ],
);

/**
 * One row per roll-up run: its transaction-id range and progress. Status is `running`,
 * `completed`, `aborted` or `failed`; a run killed outright stays `running` (its committed
 * chunks are complete, and its `through_txid` tells the next run where to go on).
 */
export const usageRollups = pgTable('usage_rollups', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  userId: text('user_id'),
  status: text('status').notNull().default('running'),
  rowsClaimed: bigint('rows_claimed', { mode: 'number' }).notNull().default(0),
  chunks: bigint('chunks', { mode: 'number' }).notNull().default(0),
  /** Where the run started: every in-scope row below it was folded by earlier runs. */
  fromTxid: xid8('from_txid'),
  /**
   * `pg_snapshot_xmin(pg_current_snapshot())` at the start: every transaction below it had
   * finished, so the rows below it are fixed; the run folds [from_txid, horizon_txid).
   */
  horizonTxid: xid8('horizon_txid'),
  /**
   * Progress, committed with each chunk: every in-scope row below it is folded. Equals
   * `horizon_txid` once completed. Null only on runs from before the txid watermark.
   */
  throughTxid: xid8('through_txid'),
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
