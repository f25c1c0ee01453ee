import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { stripeSyncColumns, timestamptz } from './columns.js';
import { LIVE_SUBSCRIPTION_STATUSES_SQL } from './constants.js';

export const subscriptions = pgTable(
  'subscriptions',
  {
    /** Stripe subscription id; the primary key serves "subscription by Stripe id". */
    id: text('id').primaryKey(),
    customerId: text('customer_id').notNull(),
    /** Denormalised from the customer / metadata so the hot read needs no join. */
    userId: text('user_id'),
    status: text('status').notNull(),
    /** Plan id from the plan list at write time; the API re-resolves from the price. */
    planId: text('plan_id'),
    priceId: text('price_id'),
    interval: text('interval'),
    quantity: integer('quantity').notNull().default(1),
    /** From the subscription (API < 2025-03-31.basil) or its first item (basil and later). */
    currentPeriodStart: timestamptz('current_period_start'),
    currentPeriodEnd: timestamptz('current_period_end'),
    cancelAtPeriodEnd: boolean('cancel_at_period_end').notNull().default(false),
    cancelAt: timestamptz('cancel_at'),
    canceledAt: timestamptz('canceled_at'),
    endedAt: timestamptz('ended_at'),
    trialStart: timestamptz('trial_start'),
    trialEnd: timestamptz('trial_end'),
    pauseCollection: jsonb('pause_collection'),
    pendingUpdate: jsonb('pending_update'),
    scheduleId: text('schedule_id'),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamptz('created_at'),
    ...stripeSyncColumns(),
  },
  (t) => [
    // GET /api/billing/subscription: the live subscription of a user, newest first
    index('subscriptions_active_by_user_idx')
      .on(t.userId, t.createdAt.desc())
      .where(sql`${t.status} in (${sql.raw(LIVE_SUBSCRIPTION_STATUSES_SQL)})`),
    // fallback read of a user's latest subscription whatever its status; user deletion
    index('subscriptions_user_id_idx').on(t.userId, t.createdAt.desc()),
    // customer.deleted and invoice handlers: the subscriptions of a customer
    index('subscriptions_customer_id_idx').on(t.customerId),
  ],
);
export type Subscription = typeof subscriptions.$inferSelect;

export const subscriptionItems = pgTable(
  'subscription_items',
  {
    id: text('id').primaryKey(),
    subscriptionId: text('subscription_id').notNull(),
    priceId: text('price_id'),
    quantity: integer('quantity').notNull().default(1),
    currentPeriodStart: timestamptz('current_period_start'),
    currentPeriodEnd: timestamptz('current_period_end'),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamptz('created_at'),
    ...stripeSyncColumns(),
  },
  (t) => [
    // replace a subscription's items when it is synced
    index('subscription_items_subscription_id_idx').on(t.subscriptionId),
  ],
);
export type SubscriptionItem = typeof subscriptionItems.$inferSelect;

export const subscriptionSchedules = pgTable(
  'subscription_schedules',
  {
    id: text('id').primaryKey(),
    customerId: text('customer_id'),
    subscriptionId: text('subscription_id'),
    status: text('status').notNull(),
    phases: jsonb('phases').notNull().default([]),
    endBehavior: text('end_behavior'),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamptz('created_at'),
    ...stripeSyncColumns(),
  },
  (t) => [
    // schedules of a subscription
    index('subscription_schedules_subscription_id_idx').on(t.subscriptionId),
  ],
);

/** Stripe's active entitlement summary, one row per customer. */
export const entitlements = pgTable('entitlements', {
  customerId: text('customer_id').primaryKey(),
  userId: text('user_id'),
  /** Lookup keys of the active entitlements' features. */
  features: jsonb('features').$type<string[]>().notNull().default([]),
  ...stripeSyncColumns(),
});
