import { invoicePayments, invoices, subscriptions } from '@billing/db';
import { sql } from 'drizzle-orm';
import type { SyncContext, SyncResult, WriteSource } from '../context.js';
import { type NormalizedInvoice, normalizeInvoice } from '../normalize/invoice.js';
import {
  type NormalizedInvoicePayment,
  normalizeInvoicePayment,
} from '../normalize/invoice-payment.js';
import { INVOICE_PAYMENT_STATE_RANK, INVOICE_STATE_RANK, stateRank, writeRank } from '../rank.js';
import { excludedSet, holdCustomerLock, newerThanStored, staleOrTie, stampOf } from './guard.js';
import { startingObject, writeResolvingTies } from './source.js';
import { customerUserSql } from './users.js';

/** The subscription's user as a scalar subquery (null without a subscription). */
function subscriptionUserSql(subscriptionId: string | null) {
  if (!subscriptionId) return sql`null::text`;
  return sql`(select su.user_id from ${subscriptions} as su where su.id = ${subscriptionId})`;
}

/**
 * Upserts an invoice (`invoice.*` with an id, or a backfill). Reads both payload shapes:
 * `subscription` (before basil) or `parent.subscription_details.subscription`, and `paid`
 * from `status` since the boolean is gone in newer versions. `invoice.deleted` (a deleted
 * draft) keeps the row with status `deleted`.
 */
export async function syncInvoice(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
): Promise<SyncResult> {
  const deleted = source.eventType === 'invoice.deleted';
  const fromPayload = normalizeInvoice(payload, { eventType: source.eventType });
  if (fromPayload.customerId) await holdCustomerLock(ctx, fromPayload.customerId);
  const start = await startingObject(ctx, 'invoice', fromPayload.id, source, payload);
  const fromStripe = (fresh: Record<string, unknown>) =>
    fresh.deleted === true ? fromPayload : normalizeInvoice(fresh, { eventType: source.eventType });
  const first = start.refetched ? fromStripe(start.object as Record<string, unknown>) : fromPayload;

  const write = async (i: NormalizedInvoice, tieWins: boolean) => {
    const status = deleted ? 'deleted' : i.status;
    const stamp = stampOf(
      source,
      writeRank(source.eventType, stateRank(INVOICE_STATE_RANK, status)),
      i.livemode,
    );
    // The customer's user, else the subscription's, else the payload's: resolved inside the
    // upsert (under the customer lock) instead of in up to two reads of their own.
    const userId = sql<
      string | null
    >`coalesce(${customerUserSql(i.customerId)}, ${subscriptionUserSql(i.subscriptionId)}, ${i.subscriptionUserId}::text)`;
    const row = {
      id: i.id,
      customerId: i.customerId,
      subscriptionId: i.subscriptionId,
      userId,
      status,
      currency: i.currency,
      amountDue: i.amountDue,
      amountPaid: i.amountPaid,
      amountRemaining: i.amountRemaining,
      subtotal: i.subtotal,
      total: i.total,
      billingReason: i.billingReason,
      number: i.number,
      hostedInvoiceUrl: i.hostedInvoiceUrl,
      attemptCount: i.attemptCount,
      nextPaymentAttempt: i.nextPaymentAttempt,
      paid: i.paid,
      paidAt: i.paidAt,
      periodStart: i.periodStart,
      periodEnd: i.periodEnd,
      lastPaymentError: i.lastPaymentError,
      metadata: i.metadata,
      createdAt: i.createdAt,
      ...stamp,
    };
    const returned = await ctx.tx
      .insert(invoices)
      .values(row)
      .onConflictDoUpdate({
        target: invoices.id,
        set: excludedSet(invoices, row, { key: invoices.id, keep: ['userId', 'subscriptionId'] }),
        setWhere: newerThanStored(invoices, tieWins),
      })
      .returning({ userId: invoices.userId });
    if (returned[0]) return { outcome: 'applied' as const, returned: returned[0] };
    return { outcome: await staleOrTie(ctx.tx, invoices, invoices.id, i.id, stamp) };
  };

  const result = await writeResolvingTies(
    ctx,
    'invoice',
    fromPayload.id,
    source,
    first,
    start.refetched,
    {
      write,
      fromStripe,
    },
  );
  const userId = result.outcome === 'applied' ? (result.returned?.userId ?? null) : null;
  return {
    outcome: result.outcome,
    objectId: fromPayload.id,
    userIds: userId ? [userId] : [],
    tie: result.tie,
    refetched: result.refetched,
  };
}

/** Upserts an invoice payment (`invoice_payment.*`, API 2025-03-31.basil and later). */
export async function syncInvoicePayment(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
): Promise<SyncResult> {
  const fromPayload = normalizeInvoicePayment(payload);
  const start = await startingObject(ctx, 'invoice_payment', fromPayload.id, source, payload);
  const first = start.refetched ? normalizeInvoicePayment(start.object) : fromPayload;

  const write = async (p: NormalizedInvoicePayment, tieWins: boolean) => {
    const stamp = stampOf(
      source,
      writeRank(source.eventType, stateRank(INVOICE_PAYMENT_STATE_RANK, p.status)),
      p.livemode,
    );
    const row = {
      id: p.id,
      invoiceId: p.invoiceId,
      status: p.status,
      currency: p.currency,
      amountPaid: p.amountPaid,
      amountRequested: p.amountRequested,
      isDefault: p.isDefault,
      paymentIntentId: p.paymentIntentId,
      paidAt: p.paidAt,
      createdAt: p.createdAt,
      ...stamp,
    };
    const returned = await ctx.tx
      .insert(invoicePayments)
      .values(row)
      .onConflictDoUpdate({
        target: invoicePayments.id,
        set: excludedSet(invoicePayments, row, { key: invoicePayments.id }),
        setWhere: newerThanStored(invoicePayments, tieWins),
      })
      .returning({
        invoiceId: invoicePayments.invoiceId,
        // The invoice's user, for cache invalidation, read by the upsert itself.
        invoiceUserId: sql<
          string | null
        >`(select iu.user_id from ${invoices} as iu where iu.id = ${invoicePayments}.invoice_id)`,
      });
    if (returned[0]) return { outcome: 'applied' as const, returned: returned[0] };
    return { outcome: await staleOrTie(ctx.tx, invoicePayments, invoicePayments.id, p.id, stamp) };
  };

  const result = await writeResolvingTies(
    ctx,
    'invoice_payment',
    fromPayload.id,
    source,
    first,
    start.refetched,
    {
      write,
      fromStripe: (fresh) => normalizeInvoicePayment(fresh),
    },
  );
  const userId = result.outcome === 'applied' ? (result.returned?.invoiceUserId ?? null) : null;
  return {
    outcome: result.outcome,
    objectId: fromPayload.id,
    userIds: userId ? [userId] : [],
    tie: result.tie,
    refetched: result.refetched,
  };
}
