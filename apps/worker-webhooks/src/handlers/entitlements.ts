import type { EventHandler } from './types.js';

/** `entitlements.active_entitlement_summary.updated`: the customer's active feature lookup keys. */
const summary: EventHandler = {
  family: 'entitlements',
};

export const entitlementHandlers = {
  'entitlements.active_entitlement_summary.updated': summary,
} as const;
