import { boolean, smallint, text, timestamp } from 'drizzle-orm/pg-core';

/** Every time column is timestamptz. */
export const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * Columns every row synced from Stripe carries. `last_event_*` is the ordering key of the
 * write that produced the row: an upsert only wins if its (created, rank) is newer, so a
 * stale or redelivered event can never overwrite newer state (DESIGN invariant 3).
 * Backfills write with the time they read the object from Stripe.
 */
export const stripeSyncColumns = () => ({
  /** Connected account the object belongs to (`event.account`), null for the platform. */
  account: text('account'),
  livemode: boolean('livemode').notNull().default(false),
  lastEventId: text('last_event_id').notNull(),
  lastEventCreated: timestamptz('last_event_created').notNull(),
  /** Tie-break within one second: a deterministic rank of the event type / object state. */
  lastEventRank: smallint('last_event_rank').notNull().default(0),
  syncedAt: timestamptz('synced_at').notNull().defaultNow(),
});
