import { z } from 'zod';
import { expandableId, metadata, nullableString, unixTime, userIdFromMetadata } from './common.js';

/** The price of an item: expanded in webhook payloads; a bare id in some older shapes. */
const priceSchema = z.union([
  z
    .string()
    .min(1)
    .transform((id) => ({ id, lookupKey: null, interval: null })),
  z
    .object({
      id: z.string().min(1),
      lookup_key: nullableString,
      recurring: z.object({ interval: z.string() }).nullish(),
    })
    .transform((price) => ({
      id: price.id,
      lookupKey: price.lookup_key,
      interval: price.recurring?.interval ?? null,
    })),
]);

/** The legacy `plan` (pre-prices API) on items and, in very old versions, on the subscription itself. */
const planSchema = z
  .object({ id: z.string().min(1), interval: nullableString })
  .nullish()
  .transform((plan) => (plan ? { id: plan.id, interval: plan.interval } : null));

const itemSchema = z.object({
  id: z.string().min(1),
  price: priceSchema.nullish(),
  plan: planSchema,
  quantity: z.number().int().nullish(),
  /** Since 2025-03-31.basil the billing period lives here. */
  current_period_start: unixTime,
  current_period_end: unixTime,
  metadata,
  created: unixTime,
});

export const SUBSCRIPTION_STATUSES = [
  'incomplete',
  'incomplete_expired',
  'trialing',
  'active',
  'past_due',
  'canceled',
  'unpaid',
  'paused',
] as const;

const subscriptionSchema = z.object({
  id: z.string().min(1),
  object: z.literal('subscription').optional(),
  customer: expandableId,
  status: z.string().min(1),
  items: z
    .object({ data: z.array(itemSchema), has_more: z.boolean().optional() })
    .nullish()
    .transform((list) => list ?? { data: [], has_more: false }),
  /** Before 2025-03-31.basil the billing period lives on the subscription. */
  current_period_start: unixTime,
  current_period_end: unixTime,
  plan: planSchema,
  quantity: z.number().int().nullish(),
  cancel_at_period_end: z.boolean().nullish(),
  cancel_at: unixTime,
  canceled_at: unixTime,
  ended_at: unixTime,
  trial_start: unixTime,
  trial_end: unixTime,
  pause_collection: z.unknown().optional(),
  pending_update: z.unknown().optional(),
  schedule: expandableId.nullish(),
  metadata,
  created: unixTime,
  livemode: z.boolean().optional(),
});

export interface NormalizedSubscriptionItem {
  id: string;
  priceId: string | null;
  quantity: number;
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  metadata: Record<string, string>;
  createdAt: Date | null;
}

export interface NormalizedSubscription {
  id: string;
  customerId: string;
  userId: string | null;
  status: string;
  priceId: string | null;
  /** The price's lookup key when the payload carries the expanded price (plan resolution). */
  priceLookupKey: string | null;
  interval: string | null;
  quantity: number;
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean;
  cancelAt: Date | null;
  canceledAt: Date | null;
  endedAt: Date | null;
  trialStart: Date | null;
  trialEnd: Date | null;
  pauseCollection: unknown;
  pendingUpdate: unknown;
  scheduleId: string | null;
  metadata: Record<string, string>;
  createdAt: Date | null;
  livemode: boolean | undefined;
  items: NormalizedSubscriptionItem[];
  /** False when Stripe truncated the item list: items missing from it must not be deleted. */
  itemsComplete: boolean;
}

/**
 * Reads a subscription rendered at any API version. The billing period comes from the
 * subscription (API < 2025-03-31.basil) or, when absent there, from its first item
 * (basil and later), so both shapes give the same row.
 */
export function normalizeSubscription(raw: unknown): NormalizedSubscription {
  const s = subscriptionSchema.parse(raw);
  const first = s.items.data[0];
  const price = first?.price ?? null;
  const legacyPlan = first?.plan ?? s.plan;
  return {
    id: s.id,
    customerId: s.customer,
    userId: userIdFromMetadata(s.metadata),
    status: s.status,
    priceId: price?.id ?? legacyPlan?.id ?? null,
    priceLookupKey: price?.lookupKey ?? null,
    interval: price?.interval ?? legacyPlan?.interval ?? null,
    quantity: first?.quantity ?? s.quantity ?? 1,
    currentPeriodStart: s.current_period_start ?? first?.current_period_start ?? null,
    currentPeriodEnd: s.current_period_end ?? first?.current_period_end ?? null,
    cancelAtPeriodEnd: s.cancel_at_period_end ?? false,
    cancelAt: s.cancel_at,
    canceledAt: s.canceled_at,
    endedAt: s.ended_at,
    trialStart: s.trial_start,
    trialEnd: s.trial_end,
    pauseCollection: s.pause_collection ?? null,
    pendingUpdate: s.pending_update ?? null,
    scheduleId: s.schedule ?? null,
    metadata: s.metadata,
    createdAt: s.created,
    livemode: s.livemode,
    items: s.items.data.map((item) => ({
      id: item.id,
      priceId: item.price?.id ?? item.plan?.id ?? null,
      quantity: item.quantity ?? 1,
      currentPeriodStart: item.current_period_start ?? s.current_period_start,
      currentPeriodEnd: item.current_period_end ?? s.current_period_end,
      metadata: item.metadata,
      createdAt: item.created,
    })),
    itemsComplete: s.items.has_more !== true,
  };
}
