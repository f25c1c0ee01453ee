import type { EventHandler } from './types.js';

/**
 * `checkout.session.completed`: links the Stripe customer to the app user
 * (`client_reference_id` or `metadata.user_id`). The session itself is not stored.
 */
const checkoutCompleted: EventHandler = {
  family: 'checkout_session',
};

export const checkoutSessionHandlers = {
  'checkout.session.completed': checkoutCompleted,
} as const;
