import { z } from 'zod';
import { expandableId, metadata, nullableString, userIdFromMetadata } from './common.js';

const sessionSchema = z.object({
  id: z.string().min(1),
  object: z.literal('checkout.session').optional(),
  customer: expandableId.nullish(),
  subscription: expandableId.nullish(),
  client_reference_id: nullableString,
  mode: nullableString,
  metadata,
});

export interface NormalizedCheckoutSession {
  id: string;
  customerId: string | null;
  subscriptionId: string | null;
  /** `client_reference_id`, else `metadata.user_id`. */
  userId: string | null;
}

export function normalizeCheckoutSession(raw: unknown): NormalizedCheckoutSession {
  const s = sessionSchema.parse(raw);
  const reference = s.client_reference_id?.trim();
  return {
    id: s.id,
    customerId: s.customer ?? null,
    subscriptionId: s.subscription ?? null,
    userId: reference ? reference : userIdFromMetadata(s.metadata),
  };
}
