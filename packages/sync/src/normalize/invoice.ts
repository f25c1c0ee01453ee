import { z } from 'zod';
import {
  amount,
  expandableId,
  metadata,
  nullableString,
  unixTime,
  userIdFromMetadata,
} from './common.js';

const subscriptionDetails = z
  .object({ subscription: expandableId.nullish(), metadata: metadata })
  .nullish();

const invoiceSchema = z.object({
  id: z.string().min(1),
  object: z.literal('invoice').optional(),
  customer: expandableId.nullish(),
  status: nullableString,
  currency: z.string().min(1),
  amount_due: amount,
  amount_paid: amount,
  amount_remaining: amount,
  subtotal: amount,
  total: amount,
  billing_reason: nullableString,
  number: nullableString,
  hosted_invoice_url: nullableString,
  attempt_count: z.number().int().nullish(),
  next_payment_attempt: unixTime,
  /** Removed in 2025-03-31.basil; older payloads still carry it. */
  paid: z.boolean().nullish(),
  status_transitions: z.object({ paid_at: unixTime }).nullish(),
  period_start: unixTime,
  period_end: unixTime,
  /** Before basil: the subscription id (or expanded object) directly on the invoice. */
  subscription: expandableId.nullish(),
  /** Before basil, subscription metadata was copied to `subscription_details`. */
  subscription_details: subscriptionDetails,
  /** Basil and later: `parent.subscription_details.subscription`. */
  parent: z.object({ subscription_details: subscriptionDetails }).nullish(),
  last_finalization_error: z.object({ message: nullableString }).nullish(),
  metadata,
  created: unixTime,
  livemode: z.boolean().optional(),
});

export interface NormalizedInvoice {
  id: string;
  customerId: string | null;
  subscriptionId: string | null;
  /** `metadata.user_id` of the subscription the invoice bills, when Stripe copied it over. */
  subscriptionUserId: string | null;
  status: string | null;
  currency: string;
  amountDue: number;
  amountPaid: number;
  amountRemaining: number;
  subtotal: number | null;
  total: number | null;
  billingReason: string | null;
  number: string | null;
  hostedInvoiceUrl: string | null;
  attemptCount: number;
  nextPaymentAttempt: Date | null;
  paid: boolean;
  paidAt: Date | null;
  periodStart: Date | null;
  periodEnd: Date | null;
  /** Set for `invoice.payment_failed`; cleared once paid; otherwise keeps what was stored. */
  lastPaymentError: string | null | undefined;
  metadata: Record<string, string>;
  createdAt: Date | null;
  livemode: boolean | undefined;
}

/**
 * Reads an invoice rendered at any API version. `subscription` moved to
 * `parent.subscription_details.subscription` in 2025-03-31.basil and the `paid` boolean was
 * removed; `paid` is derived from `status` (and the legacy boolean when present).
 */
export function normalizeInvoice(
  raw: unknown,
  options: { eventType?: string | null } = {},
): NormalizedInvoice {
  const i = invoiceSchema.parse(raw);
  const details = i.parent?.subscription_details ?? i.subscription_details ?? null;
  const paid = i.status === 'paid' || i.paid === true;
  let lastPaymentError: string | null | undefined;
  if (options.eventType === 'invoice.payment_failed') {
    lastPaymentError = i.last_finalization_error?.message ?? 'payment failed';
  } else if (paid) {
    lastPaymentError = null;
  }
  return {
    id: i.id,
    customerId: i.customer ?? null,
    subscriptionId: details?.subscription ?? i.subscription ?? null,
    subscriptionUserId: details ? userIdFromMetadata(details.metadata) : null,
    status: i.status,
    currency: i.currency,
    amountDue: i.amount_due ?? 0,
    amountPaid: i.amount_paid ?? 0,
    amountRemaining: i.amount_remaining ?? 0,
    subtotal: i.subtotal,
    total: i.total,
    billingReason: i.billing_reason,
    number: i.number,
    hostedInvoiceUrl: i.hosted_invoice_url,
    attemptCount: i.attempt_count ?? 0,
    nextPaymentAttempt: i.next_payment_attempt,
    paid,
    paidAt: i.status_transitions?.paid_at ?? null,
    periodStart: i.period_start,
    periodEnd: i.period_end,
    lastPaymentError,
    metadata: i.metadata,
    createdAt: i.created,
    livemode: i.livemode,
  };
}
