import type { SyncContext, SyncFamily, SyncResult, WriteSource } from '@billing/sync';

/** What a handler does with the event's `data.object`, inside the event's transaction. */
export interface EventHandler {
  /** The object family, as named in STRIPE_REFETCH_OBJECTS (`checkout_session` is never re-fetched). */
  family: SyncFamily | 'checkout_session';
  /**
   * The customer whose lock the writer will take, read from the object the same way the writer
   * reads it. The worker takes that lock inside its claim statement (saving the writer's own
   * lock statement); a family that locks no customer leaves this out.
   */
  customerToLock?(object: Record<string, unknown>): string | null;
  apply(
    ctx: SyncContext,
    object: Record<string, unknown>,
    source: WriteSource,
  ): Promise<SyncResult>;
}
