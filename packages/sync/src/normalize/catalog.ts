import { z } from 'zod';
import { amount, expandableId, metadata, nullableString, unixTime } from './common.js';

const productSchema = z.object({
  id: z.string().min(1),
  object: z.literal('product').optional(),
  name: z.string().nullish(),
  description: nullableString,
  active: z.boolean().nullish(),
  deleted: z.boolean().optional(),
  metadata,
  created: unixTime,
  livemode: z.boolean().optional(),
});

export interface NormalizedProduct {
  id: string;
  name: string;
  description: string | null;
  active: boolean;
  deleted: boolean;
  metadata: Record<string, string>;
  createdAt: Date | null;
  livemode: boolean | undefined;
}

export function normalizeProduct(
  raw: unknown,
  options: { deleted?: boolean } = {},
): NormalizedProduct {
  const p = productSchema.parse(raw);
  const deleted = options.deleted === true || p.deleted === true;
  return {
    id: p.id,
    name: p.name ?? '',
    description: p.description,
    active: deleted ? false : (p.active ?? true),
    deleted,
    metadata: p.metadata,
    createdAt: p.created,
    livemode: p.livemode,
  };
}

const priceSchema = z.object({
  id: z.string().min(1),
  object: z.literal('price').optional(),
  product: expandableId.nullish(),
  active: z.boolean().nullish(),
  deleted: z.boolean().optional(),
  currency: z.string().min(1),
  unit_amount: amount,
  type: z.string().min(1),
  recurring: z
    .object({ interval: z.string(), interval_count: z.number().int().nullish() })
    .nullish(),
  lookup_key: nullableString,
  nickname: nullableString,
  metadata,
  created: unixTime,
  livemode: z.boolean().optional(),
});

/**
 * A row of `prices`. `lookupKey` is undefined when the source cannot know it (a legacy
 * `plan` object has no lookup key), so the write keeps the stored value.
 */
export interface NormalizedPrice {
  id: string;
  productId: string | null;
  active: boolean;
  deleted: boolean;
  currency: string;
  unitAmount: number | null;
  type: string;
  recurringInterval: string | null;
  recurringIntervalCount: number | null;
  lookupKey: string | null | undefined;
  nickname: string | null;
  metadata: Record<string, string>;
  createdAt: Date | null;
  livemode: boolean | undefined;
}

export function normalizePrice(raw: unknown, options: { deleted?: boolean } = {}): NormalizedPrice {
  const p = priceSchema.parse(raw);
  const deleted = options.deleted === true || p.deleted === true;
  return {
    id: p.id,
    productId: p.product ?? null,
    active: deleted ? false : (p.active ?? true),
    deleted,
    currency: p.currency,
    unitAmount: p.unit_amount,
    type: p.type,
    recurringInterval: p.recurring?.interval ?? null,
    recurringIntervalCount: p.recurring?.interval_count ?? null,
    lookupKey: p.lookup_key,
    nickname: p.nickname,
    metadata: p.metadata,
    createdAt: p.created,
    livemode: p.livemode,
  };
}

const planSchema = z.object({
  id: z.string().min(1),
  object: z.literal('plan').optional(),
  product: expandableId.nullish(),
  active: z.boolean().nullish(),
  deleted: z.boolean().optional(),
  currency: z.string().min(1),
  amount: amount,
  interval: z.string().min(1),
  interval_count: z.number().int().nullish(),
  nickname: nullableString,
  metadata,
  created: unixTime,
  livemode: z.boolean().optional(),
});

/**
 * A legacy Plan is the recurring Price with the same id (Stripe emits `plan.*` next to
 * `price.*` for it), so it lands in `prices`. Plans carry no lookup key.
 */
export function normalizePlan(raw: unknown, options: { deleted?: boolean } = {}): NormalizedPrice {
  const p = planSchema.parse(raw);
  const deleted = options.deleted === true || p.deleted === true;
  return {
    id: p.id,
    productId: p.product ?? null,
    active: deleted ? false : (p.active ?? true),
    deleted,
    currency: p.currency,
    unitAmount: p.amount,
    type: 'recurring',
    recurringInterval: p.interval,
    recurringIntervalCount: p.interval_count ?? null,
    lookupKey: undefined,
    nickname: p.nickname,
    metadata: p.metadata,
    createdAt: p.created,
    livemode: p.livemode,
  };
}
