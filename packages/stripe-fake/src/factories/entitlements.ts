import type { Stripe } from '@billing/stripe';
import { fixture } from '../fixtures.js';
import { stripeId } from '../ids.js';
import type { Json } from './base.js';

export interface EntitlementSummaryOptions {
  customer?: string;
  /** Feature lookup keys (or full specs) the customer is entitled to. */
  features?: Array<string | { lookupKey: string; name?: string; id?: string }>;
}

export function entitlementSummaryObject(
  options: EntitlementSummaryOptions = {},
): Stripe.Entitlements.ActiveEntitlementSummary {
  const summary = fixture<Json>('entitlements.active_entitlement_summary');
  const customer = options.customer ?? stripeId('cus');
  const data = (options.features ?? []).map((spec) => {
    const feature = typeof spec === 'string' ? { lookupKey: spec } : spec;
    const entitlement = fixture<Json>('entitlements.active_entitlement');
    const featureObject = fixture<Json>('entitlements.feature');
    Object.assign(featureObject, {
      id: feature.id ?? stripeId('feat_test'),
      lookup_key: feature.lookupKey,
      name: feature.name ?? feature.lookupKey,
      active: true,
      metadata: {},
      livemode: false,
    });
    return Object.assign(entitlement, {
      id: stripeId('ent_test'),
      feature: featureObject,
      lookup_key: feature.lookupKey,
      livemode: false,
    });
  });
  Object.assign(summary, {
    customer,
    livemode: false,
    entitlements: {
      object: 'list',
      data,
      has_more: false,
      url: '/v1/customer/entitlements',
    },
  });
  return summary as unknown as Stripe.Entitlements.ActiveEntitlementSummary;
}
