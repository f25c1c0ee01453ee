import { customerIdOf, syncEntitlementSummary } from '@billing/sync';
import type { EventHandler } from './types.js';

/** `entitlements.active_entitlement_summary.updated`: the customer's active feature lookup keys. */
const summary: EventHandler = {
  family: 'entitlements',
  customerToLock: customerIdOf,
  apply: (ctx, object, source) => syncEntitlementSummary(ctx, object, source),
};

export const entitlementHandlers = {
  'entitlements.active_entitlement_summary.updated': summary,
} as const;
