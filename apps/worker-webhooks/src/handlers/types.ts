import type { SyncContext, SyncFamily, SyncResult, WriteSource } from '@billing/sync';

/** What a handler does with the event's `data.object`, inside the event's transaction. */
export interface EventHandler {
  /** The object family, as named in STRIPE_REFETCH_OBJECTS (`checkout_session` is never re-fetched). */
  family: SyncFamily | 'checkout_session';
  apply(
    ctx: SyncContext,
    object: Record<string, unknown>,
    source: WriteSource,
  ): Promise<SyncResult>;
}
