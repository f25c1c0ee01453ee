import type { EventHandler } from './types.js';

/**
 * `invoice.*`: a guarded upsert of the invoice. `invoice.upcoming` describes an invoice that
 * does not exist yet and has no id: the worker records it as ignored before reaching here.
 */
const invoice: EventHandler = {
  family: 'invoice',
};

export const invoiceHandlers = {
  'invoice.created': invoice,
  'invoice.updated': invoice,
  'invoice.finalized': invoice,
  'invoice.finalization_failed': invoice,
  'invoice.sent': invoice,
  'invoice.paid': invoice,
  'invoice.payment_succeeded': invoice,
  'invoice.payment_failed': invoice,
  'invoice.payment_action_required': invoice,
  'invoice.overdue': invoice,
  'invoice.voided': invoice,
  'invoice.marked_uncollectible': invoice,
  'invoice.deleted': invoice,
  'invoice.upcoming': invoice,
} as const;
