import type { SyncContext, SyncResult, WriteSource } from './context.js';
import { PermanentSyncError } from './errors.js';
import {
  syncCustomer,
  syncEntitlementSummary,
  syncInvoice,
  syncInvoicePayment,
  syncPrice,
  syncProduct,
  syncSubscription,
  syncSubscriptionSchedule,
} from './write/single.js';

/**
 * Writes any supported Stripe object by its `object` field: the entry point for a backfill
 * that lists objects from the API, so it goes through exactly the writes the webhooks use.
 */
export function syncStripeObject(
  ctx: SyncContext,
  object: Record<string, unknown>,
  source: WriteSource,
): Promise<SyncResult> {
  switch (object.object) {
    case 'customer':
      return syncCustomer(ctx, object, source);
    case 'subscription':
      return syncSubscription(ctx, object, source);
    case 'invoice':
      return syncInvoice(ctx, object, source);
    case 'invoice_payment':
      return syncInvoicePayment(ctx, object, source);
    case 'price':
      return syncPrice(ctx, object, source);
    case 'plan':
      return syncPrice(ctx, object, source, { legacyPlan: true });
    case 'product':
      return syncProduct(ctx, object, source);
    case 'subscription_schedule':
      return syncSubscriptionSchedule(ctx, object, source);
    case 'entitlements.active_entitlement_summary':
      return syncEntitlementSummary(ctx, object, source);
    default:
      throw new PermanentSyncError(
        'unsupported_object',
        `cannot sync Stripe objects of type ${String(object.object)}`,
      );
  }
}

/**
 * The write source of a backfill: ordered by when the object was read from Stripe, so a
 * webhook event created after the read still wins and one created before it is stale.
 */
export function backfillSource(
  readAt: Date,
  options: { account?: string | null; livemode?: boolean; runId?: string } = {},
): WriteSource {
  return {
    eventId: `backfill:${options.runId ?? readAt.toISOString()}`,
    eventType: null,
    created: readAt,
    account: options.account ?? null,
    livemode: options.livemode ?? false,
  };
}
