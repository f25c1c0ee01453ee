import { sql } from 'drizzle-orm';
import { boolean, index, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { stripeSyncColumns, timestamptz } from './columns.js';

/** A Stripe customer and the app user it belongs to. */
export const customers = pgTable(
  'customers',
  {
    id: text('id').primaryKey(),
    /** The SaaS app's user id; from metadata.user_id or the checkout session that created it. */
    userId: text('user_id'),
    email: text('email'),
    name: text('name'),
    currency: text('currency'),
    deleted: boolean('deleted').notNull().default(false),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamptz('created_at'),
    ...stripeSyncColumns(),
  },
  (t) => [
    // "the Stripe customer of this user" (checkout reuse, billing reads by user)
    index('customers_user_id_idx').on(t.userId).where(sql`${t.userId} is not null`),
  ],
);
export type Customer = typeof customers.$inferSelect;
