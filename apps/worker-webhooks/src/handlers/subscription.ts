import type { EventHandler } from './types.js';

/**
 * `customer.subscription.*`: every one of them carries the whole subscription, so each is a
 * guarded upsert of it (and its items). `trial_will_end` and `pending_update_*` change no
 * field of their own but still bring the current state.
 */
const subscription: EventHandler = {
  family: 'subscription',
};

export const subscriptionHandlers = {
  'customer.subscription.created': subscription,
  'customer.subscription.updated': subscription,
  'customer.subscription.deleted': subscription,
  'customer.subscription.paused': subscription,
  'customer.subscription.resumed': subscription,
  'customer.subscription.trial_will_end': subscription,
  'customer.subscription.pending_update_applied': subscription,
  'customer.subscription.pending_update_expired': subscription,
} as const;
