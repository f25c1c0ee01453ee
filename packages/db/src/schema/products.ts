import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { stripeSyncColumns, timestamptz } from './columns.js';

export const products = pgTable('products', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  description: text('description'),
  active: boolean('active').notNull().default(true),
  deleted: boolean('deleted').notNull().default(false),
  metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
  createdAt: timestamptz('created_at'),
  ...stripeSyncColumns(),
});
export type Product = typeof products.$inferSelect;

export const prices = pgTable(
  'prices',
  {
    id: text('id').primaryKey(),
    productId: text('product_id'),
    active: boolean('active').notNull().default(true),
    deleted: boolean('deleted').notNull().default(false),
    currency: text('currency').notNull(),
    /** Minor units (cents). Null for tiered or custom-amount prices. */
    unitAmount: bigint('unit_amount', { mode: 'number' }),
    type: text('type').notNull(),
    /** `month` / `year` / `week` / `day` for recurring prices. */
    recurringInterval: text('recurring_interval'),
    recurringIntervalCount: integer('recurring_interval_count'),
    lookupKey: text('lookup_key'),
    nickname: text('nickname'),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamptz('created_at'),
    ...stripeSyncColumns(),
  },
  (t) => [
    // resolve a plan's price lookup key to the current price
    index('prices_lookup_key_idx').on(t.lookupKey).where(sql`${t.lookupKey} is not null`),
  ],
);
export type Price = typeof prices.$inferSelect;

/**
 * The app's plan list, loaded from PLANS_FILE at start-up. A price reference is a
 * Stripe price id (`price_…`) or a lookup key. The plan without prices is the free plan.
 */
export const plans = pgTable('plans', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  description: text('description'),
  monthPrice: text('month_price'),
  yearPrice: text('year_price'),
  /** Included usage per metric, e.g. { "compute_minutes": 5000 }. */
  limits: jsonb('limits').$type<Record<string, number>>().notNull(),
  features: jsonb('features').$type<string[]>().notNull().default([]),
  sortOrder: integer('sort_order').notNull().default(0),
  isFree: boolean('is_free').notNull().default(false),
  updatedAt: timestamptz('updated_at').notNull().defaultNow(),
});
export type Plan = typeof plans.$inferSelect;
