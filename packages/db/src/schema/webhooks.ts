import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { timestamptz } from './columns.js';

export const webhookEventStatus = pgEnum('webhook_event_status', [
  'received',
  'processed',
  'ignored',
  'failed',
]);
export type WebhookEventStatus = (typeof webhookEventStatus.enumValues)[number];

/**
 * Every Stripe event the worker has seen, with its raw payload so a fixed handler can replay
 * history. `event_id` is unique: the handler's writes and the `processed` mark commit in one
 * transaction, so an event takes effect exactly once however often it is delivered.
 */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    apiVersion: text('api_version'),
    account: text('account'),
    livemode: boolean('livemode').notNull().default(false),
    /** Stripe's `event.created`. */
    created: timestamptz('created').notNull(),
    /** The id of the object the event is about, when it has one. */
    objectId: text('object_id'),
    payload: jsonb('payload').notNull(),
    status: webhookEventStatus('status').notNull().default('received'),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    receivedAt: timestamptz('received_at').notNull().defaultNow(),
    processedAt: timestamptz('processed_at'),
  },
  (t) => [
    // exactly-once: claim an event by id (ON CONFLICT (event_id))
    uniqueIndex('webhook_events_event_id_key').on(t.eventId),
    // ops: recent events by status (dead letters, processing lag), newest processed first
    index('webhook_events_status_processed_at_idx').on(t.status, t.processedAt.desc()),
    // same-second tie: the processed events about one object in one second (sync batch writer)
    index('webhook_events_object_created_idx')
      .on(t.objectId, t.created)
      .where(sql`${t.objectId} is not null`),
    // dead-letter filters by type and time range
    index('webhook_events_failed_type_created_idx')
      .on(t.type, t.created)
      .where(sql`${t.status} = 'failed'`),
  ],
);
export type WebhookEvent = typeof webhookEvents.$inferSelect;
