import type { Stripe } from '@billing/stripe';
import { checkoutSessionHandlers } from './checkout-session.js';
import { customerHandlers } from './customer.js';
import { entitlementHandlers } from './entitlements.js';
import { invoiceHandlers } from './invoice.js';
import { invoicePaymentHandlers } from './invoice-payment.js';
import { planHandlers } from './plan.js';
import { priceHandlers } from './price.js';
import { productHandlers } from './product.js';
import { subscriptionHandlers } from './subscription.js';
import { subscriptionScheduleHandlers } from './subscription-schedule.js';
import type { EventHandler } from './types.js';

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

export type HandledEventType = (typeof HANDLED_EVENT_TYPES)[number];

/** One handler per handled type; the mapped type makes a missing or extra entry a compile error. */
export type EventHandlerRegistry = { readonly [T in HandledEventType]: EventHandler };

export const eventHandlers = {
  ...customerHandlers,
  ...subscriptionHandlers,
  ...invoiceHandlers,
  ...invoicePaymentHandlers,
  ...checkoutSessionHandlers,
  ...priceHandlers,
  ...productHandlers,
  ...planHandlers,
  ...subscriptionScheduleHandlers,
  ...entitlementHandlers,
} satisfies EventHandlerRegistry;

// Both directions: every listed type has a handler (above) and every handler is listed.
type Extra = Exclude<keyof typeof eventHandlers, HandledEventType>;
const noExtraHandlers: [Extra] extends [never] ? true : Extra = true;
void noExtraHandlers;

const handled = new Set<string>(HANDLED_EVENT_TYPES);

export function handlerFor(type: string): EventHandler | undefined {
  return handled.has(type) ? eventHandlers[type as HandledEventType] : undefined;
}
