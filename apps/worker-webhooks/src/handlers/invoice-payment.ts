import type { EventHandler } from './types.js';

/** `invoice_payment.*` (API 2025-03-31.basil and later): one payment of an invoice. */
const invoicePayment: EventHandler = {
  family: 'invoice_payment',
};

export const invoicePaymentHandlers = {
  'invoice_payment.paid': invoicePayment,
} as const;
