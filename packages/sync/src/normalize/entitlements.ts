import { z } from 'zod';
import { expandableId } from './common.js';

const activeEntitlement = z.object({
  lookup_key: z.string().nullish(),
  feature: z.union([z.string(), z.object({ lookup_key: z.string().nullish() })]).nullish(),
});

const summarySchema = z.object({
  object: z.literal('entitlements.active_entitlement_summary').optional(),
  customer: expandableId,
  entitlements: z.object({
    data: z.array(activeEntitlement),
    has_more: z.boolean().optional(),
  }),
  livemode: z.boolean().optional(),
});

export interface NormalizedEntitlementSummary {
  customerId: string;
  /** Feature lookup keys, sorted and unique. */
  features: string[];
  /** False when Stripe truncated the list (more than one page of entitlements). */
  complete: boolean;
  livemode: boolean | undefined;
}

/** The summary has no id of its own: it is keyed by its customer. */
export function normalizeEntitlementSummary(raw: unknown): NormalizedEntitlementSummary {
  const s = summarySchema.parse(raw);
  const keys = new Set<string>();
  for (const entitlement of s.entitlements.data) {
    const key =
      entitlement.lookup_key ??
      (entitlement.feature && typeof entitlement.feature === 'object'
        ? entitlement.feature.lookup_key
        : null);
    if (key) keys.add(key);
  }
  return {
    customerId: s.customer,
    features: [...keys].sort(),
    complete: s.entitlements.has_more !== true,
    livemode: s.livemode,
  };
}
