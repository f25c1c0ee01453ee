import type { SyncContext, SyncResult, WriteSource } from '../context.js';
import { normalizeCheckoutSession } from '../normalize/checkout-session.js';
import { holdCustomerLock } from './guard.js';
import { linkCustomerToUser } from './users.js';

/**
 * `checkout.session.completed`: links the session's Stripe customer to the app user named
 * by `client_reference_id` (else `metadata.user_id`) and back-fills the customer's
 * subscriptions, invoices and entitlements. A session without a customer (guest payment) or
 * without a user has nothing to link and is reported as ignored.
 */
export async function syncCheckoutSession(
  ctx: SyncContext,
  payload: unknown,
  source: WriteSource,
): Promise<SyncResult> {
  const session = normalizeCheckoutSession(payload);
  if (!session.customerId || !session.userId) {
    return { outcome: 'ignored', objectId: session.id, userIds: [] };
  }
  await holdCustomerLock(ctx, session.customerId);
  const outcome = await linkCustomerToUser(ctx, session.customerId, session.userId, source);
  return {
    outcome: outcome === 'conflict' ? 'stale' : 'applied',
    objectId: session.id,
    userIds: outcome === 'linked' ? [session.userId] : [],
  };
}
