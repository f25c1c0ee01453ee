import { bigint, boolean, index, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { stripeSyncColumns, timestamptz } from './columns.js';

export const invoices = pgTable(
  'invoices',
  {
    id: text('id').primaryKey(),
    customerId: text('customer_id'),
    subscriptionId: text('subscription_id'),
    userId: text('user_id'),
    status: text('status'),
    currency: text('currency').notNull(),
    /** All amounts in minor units. */
    amountDue: bigint('amount_due', { mode: 'number' }).notNull().default(0),
    amountPaid: bigint('amount_paid', { mode: 'number' }).notNull().default(0),
    amountRemaining: bigint('amount_remaining', { mode: 'number' }).notNull().default(0),
    subtotal: bigint('subtotal', { mode: 'number' }),
    total: bigint('total', { mode: 'number' }),
    billingReason: text('billing_reason'),
    number: text('number'),
    hostedInvoiceUrl: text('hosted_invoice_url'),
    attemptCount: integer('attempt_count').notNull().default(0),
    nextPaymentAttempt: timestamptz('next_payment_attempt'),
    paid: boolean('paid').notNull().default(false),
    paidAt: timestamptz('paid_at'),
    periodStart: timestamptz('period_start'),
    periodEnd: timestamptz('period_end'),
    lastPaymentError: text('last_payment_error'),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamptz('created_at'),
    ...stripeSyncColumns(),
  },
  (t) => [
    // invoices of a customer, newest first (billing history)
    index('invoices_customer_id_idx').on(t.customerId, t.createdAt.desc()),
    // invoices of a subscription
    index('invoices_subscription_id_idx').on(t.subscriptionId),
  ],
);
export type Invoice = typeof invoices.$inferSelect;

/** `invoice_payment.*` (API 2025-03-31.basil and later): one payment attempt on an invoice. */
export const invoicePayments = pgTable(
  'invoice_payments',
  {
    id: text('id').primaryKey(),
    invoiceId: text('invoice_id').notNull(),
    status: text('status').notNull(),
    currency: text('currency').notNull(),
    amountPaid: bigint('amount_paid', { mode: 'number' }),
    amountRequested: bigint('amount_requested', { mode: 'number' }).notNull().default(0),
    isDefault: boolean('is_default').notNull().default(false),
    paymentIntentId: text('payment_intent_id'),
    paidAt: timestamptz('paid_at'),
    createdAt: timestamptz('created_at'),
    ...stripeSyncColumns(),
  },
  (t) => [
    // payments of an invoice
    index('invoice_payments_invoice_id_idx').on(t.invoiceId),
  ],
);
