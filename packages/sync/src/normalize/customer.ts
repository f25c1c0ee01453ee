import { z } from 'zod';
import { metadata, nullableString, unixTime, userIdFromMetadata } from './common.js';

const customerSchema = z.object({
  id: z.string().min(1),
  object: z.literal('customer').optional(),
  email: nullableString,
  name: nullableString,
  currency: nullableString,
  /** Only a retrieved deleted customer says `deleted: true`; a `customer.deleted` event carries the last full object. */
  deleted: z.boolean().optional(),
  metadata,
  created: unixTime,
  livemode: z.boolean().optional(),
});

export interface NormalizedCustomer {
  id: string;
  userId: string | null;
  email: string | null;
  name: string | null;
  currency: string | null;
  deleted: boolean;
  metadata: Record<string, string>;
  createdAt: Date | null;
  livemode: boolean | undefined;
}

export function normalizeCustomer(
  raw: unknown,
  options: { deleted?: boolean } = {},
): NormalizedCustomer {
  const c = customerSchema.parse(raw);
  return {
    id: c.id,
    userId: userIdFromMetadata(c.metadata),
    email: c.email,
    name: c.name,
    currency: c.currency,
    deleted: options.deleted === true || c.deleted === true,
    metadata: c.metadata,
    createdAt: c.created,
    livemode: c.livemode,
  };
}
