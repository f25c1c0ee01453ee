import type { Stripe } from '@billing/stripe';

// Kept apart from the registry (which imports every handler and, through them, the database
// and sync code) so `stripe-events` can print the list without loading any of it.
/**
 * Every Stripe event type the worker applies. Each must be a real Stripe event type (checked
 * against the stripe library's `Event.Type`), and the registry below must have a handler for
 * each: adding a type here without a handler, or a handler for a type not listed, does not
 * compile. Any other type is recorded as ignored and acknowledged.
 */
export const HANDLED_EVENT_TYPES = [
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'customer.subscription.trial_will_end',
  'customer.subscription.pending_update_applied',
  'customer.subscription.pending_update_expired',
  'invoice.created',
  'invoice.updated',
  'invoice.finalized',
  'invoice.finalization_failed',
  'invoice.sent',
  'invoice.paid',
  'invoice.payment_succeeded',
  'invoice.payment_failed',
  'invoice.payment_action_required',
  'invoice.overdue',
  'invoice.voided',
  'invoice.marked_uncollectible',
  'invoice.deleted',
  'invoice.upcoming',
  'invoice_payment.paid',
  'checkout.session.completed',
  'price.created',
  'price.updated',
  'price.deleted',
  'product.created',
  'product.updated',
  'product.deleted',
  'plan.created',
  'plan.updated',
  'plan.deleted',
  'subscription_schedule.created',
  'subscription_schedule.updated',
  'subscription_schedule.aborted',
  'subscription_schedule.canceled',
  'subscription_schedule.completed',
  'subscription_schedule.expiring',
  'subscription_schedule.released',
  'entitlements.active_entitlement_summary.updated',
] as const satisfies readonly Stripe.Event.Type[];
