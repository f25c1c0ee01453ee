import type { SyncFamily } from '@billing/sync';

/**
 * What the worker does with an event type: write its `data.object` through the batch writer
 * of `@billing/sync` as an object of this family.
 */
export interface EventHandler {
  /** The object family, as named in STRIPE_REFETCH_OBJECTS (`checkout_session` is never re-fetched). */
  family: SyncFamily | 'checkout_session';
}
