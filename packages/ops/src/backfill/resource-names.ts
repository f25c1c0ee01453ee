// Kept free of imports so the CLIs can print their usage without loading the database code.

/** The resources a backfill walks, in the order it walks them (catalog before what uses it). */
export const BACKFILL_RESOURCES = [
  'products',
  'prices',
  'customers',
  'subscriptions',
  'invoices',
] as const;
export type BackfillResource = (typeof BACKFILL_RESOURCES)[number];

export const isBackfillResource = (value: string): value is BackfillResource =>
  (BACKFILL_RESOURCES as readonly string[]).includes(value);
