import { z } from 'zod';
import { amount, expandableId, unixTime } from './common.js';

const invoicePaymentSchema = z.object({
  id: z.string().min(1),
  object: z.literal('invoice_payment').optional(),
  invoice: expandableId,
  status: z.string().min(1),
  currency: z.string().min(1),
  amount_paid: amount,
  amount_requested: amount,
  is_default: z.boolean().nullish(),
  payment: z.object({ payment_intent: expandableId.nullish() }).nullish(),
  status_transitions: z.object({ paid_at: unixTime }).nullish(),
  created: unixTime,
  livemode: z.boolean().optional(),
});

export interface NormalizedInvoicePayment {
  id: string;
  invoiceId: string;
  status: string;
  currency: string;
  amountPaid: number | null;
  amountRequested: number;
  isDefault: boolean;
  paymentIntentId: string | null;
  paidAt: Date | null;
  createdAt: Date | null;
  livemode: boolean | undefined;
}

/** `invoice_payment` objects exist since 2025-03-31.basil. */
export function normalizeInvoicePayment(raw: unknown): NormalizedInvoicePayment {
  const p = invoicePaymentSchema.parse(raw);
  return {
    id: p.id,
    invoiceId: p.invoice,
    status: p.status,
    currency: p.currency,
    amountPaid: p.amount_paid,
    amountRequested: p.amount_requested ?? 0,
    isDefault: p.is_default ?? false,
    paymentIntentId: p.payment?.payment_intent ?? null,
    paidAt: p.status_transitions?.paid_at ?? null,
    createdAt: p.created,
    livemode: p.livemode,
  };
}
