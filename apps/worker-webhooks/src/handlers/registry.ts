import { checkoutSessionHandlers } from './checkout-session.js';
import { customerHandlers } from './customer.js';
import { entitlementHandlers } from './entitlements.js';
import { HANDLED_EVENT_TYPES } from './event-types.js';
import { invoiceHandlers } from './invoice.js';
import { invoicePaymentHandlers } from './invoice-payment.js';
import { planHandlers } from './plan.js';
import { priceHandlers } from './price.js';
import { productHandlers } from './product.js';
import { subscriptionHandlers } from './subscription.js';
import { subscriptionScheduleHandlers } from './subscription-schedule.js';
import type { EventHandler } from './types.js';

export { HANDLED_EVENT_TYPES } from './event-types.js';

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
