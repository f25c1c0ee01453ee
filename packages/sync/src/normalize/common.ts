import { z } from 'zod';

/**
 * Schemas for the fields the sync reads, and only those. Object schemas are zod 4's
 * `z.object`, which ignores unknown keys (Stripe adds fields in every API version, and a
 * payload is never rejected for carrying more than we know) without copying them into its
 * output, as `looseObject` would: that copy of every 3–4 KB payload was a visible share of
 * the worker's CPU.
 */

/** Unix seconds → Date; null and absent stay null. */
export const unixTime = z
  .number()
  .nullish()
  .transform((value) => (value === null || value === undefined ? null : new Date(value * 1000)));

/** An expandable reference: `"cus_123"` or the expanded object `{ id: "cus_123", … }`. */
export const expandableId = z
  .union([z.string().min(1), z.object({ id: z.string().min(1) })])
  .transform((value) => (typeof value === 'string' ? value : value.id));

/** Metadata: string values only (Stripe's rule); anything else is dropped rather than failing the event. */
export const metadata = z
  .record(z.string(), z.unknown())
  .nullish()
  .transform((value) => {
    const out: Record<string, string> = {};
    for (const [key, entry] of Object.entries(value ?? {})) {
      if (typeof entry === 'string') out[key] = entry;
    }
    return out;
  });

/** The app user a Stripe object names in its metadata (`metadata.user_id`). */
export const userIdFromMetadata = (meta: Record<string, string>): string | null => {
  const value = meta.user_id?.trim();
  return value ? value : null;
};

/** An integer amount in minor units, or null. */
export const amount = z
  .number()
  .int()
  .nullish()
  .transform((value) => value ?? null);

export const nullableString = z
  .string()
  .nullish()
  .transform((value) => value ?? null);

/** The id of a Stripe object, when it has one (an upcoming invoice or a summary has none). */
export function objectIdOf(object: unknown): string | undefined {
  if (!object || typeof object !== 'object') return undefined;
  const id = (object as { id?: unknown }).id;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

/**
 * The customer an object's `customer` field names (an id or an expanded customer), read the
 * way the normalisers read it; null when absent or malformed (the writer then reports it).
 */
export function customerIdOf(object: Record<string, unknown>): string | null {
  const parsed = expandableId.nullish().safeParse(object.customer);
  return parsed.success ? (parsed.data ?? null) : null;
}
