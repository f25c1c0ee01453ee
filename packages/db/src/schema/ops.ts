import { integer, jsonb, pgEnum, pgTable, text } from 'drizzle-orm/pg-core';
import { timestamptz } from './columns.js';

export const syncCursorStatus = pgEnum('sync_cursor_status', ['running', 'complete', 'incomplete']);
export type SyncCursorStatus = (typeof syncCursorStatus.enumValues)[number];

/**
 * Where a backfill of one Stripe resource got to. A run that stops early (a 429 storm, a
 * crash) leaves `status` running/incomplete and `cursor` at the last object written, so the
 * next run resumes with `starting_after = cursor`; a run that reaches the end marks it
 * complete and the next run starts from the top again.
 */
export const syncCursors = pgTable('sync_cursors', {
  /** `<resource>` for the platform account, `<resource>:<account>` for a connected one. */
  id: text('id').primaryKey(),
  resource: text('resource').notNull(),
  status: syncCursorStatus('status').notNull(),
  /** Id of the last object written; Stripe's `starting_after` for the next page. */
  cursor: text('cursor'),
  /** Objects written and rows found to differ from Stripe, counted across a resumed run. */
  processed: integer('processed').notNull().default(0),
  drifted: integer('drifted').notNull().default(0),
  /** Why the last run stopped early. */
  error: text('error'),
  /** Drift found by the current/last run (bounded sample of ids and fields). */
  report: jsonb('report').$type<unknown>(),
  startedAt: timestamptz('started_at').notNull().defaultNow(),
  updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  finishedAt: timestamptz('finished_at'),
});
export type SyncCursor = typeof syncCursors.$inferSelect;

/**
 * How far the event reconciliation sweep has compared Stripe's event list with
 * `webhook_events`: every event Stripe created up to `swept_through` was either in
 * `webhook_events` or enqueued. The next sweep starts an overlap before it.
 */
export const stripeEventSweeps = pgTable('stripe_event_sweeps', {
  /** `events` for the platform account. */
  id: text('id').primaryKey(),
  sweptThrough: timestamptz('swept_through').notNull(),
  /** Events enqueued by sweeps so far (they were acknowledged or sent, but never applied). */
  recovered: integer('recovered').notNull().default(0),
  updatedAt: timestamptz('updated_at').notNull().defaultNow(),
});
export type StripeEventSweep = typeof stripeEventSweeps.$inferSelect;
