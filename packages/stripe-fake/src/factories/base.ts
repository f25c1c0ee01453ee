import { DAY_SECONDS } from '../ids.js';

/**
 * What every builder shares: the `overrides` deep merge, the API shape switch, the
 * `metadata.user_id` convention and period lengths.
 */

export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> | null }
    : T;

export type Json = Record<string, unknown>;
export type Metadata = Record<string, string>;

/**
 * `basil` (API 2025-03-31 and later): current_period_start/end live on each subscription item.
 * `legacy` (older pinned versions): they live on the subscription, and not on the items.
 */
export type ApiShape = 'basil' | 'legacy';

export const isPlainObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Deep merge of `patch` into `target` (mutates target). `undefined` in the patch is ignored. */
export function deepMerge<T>(target: T, patch: unknown): T {
  if (!isPlainObject(patch) || !isPlainObject(target)) return target;
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const current = (target as Json)[key];
    if (isPlainObject(value) && isPlainObject(current)) deepMerge(current, value);
    else (target as Json)[key] = structuredClone(value);
  }
  return target;
}

export const withUserId = (
  metadata: Metadata | undefined,
  userId: string | undefined,
): Metadata => ({
  ...(metadata ?? {}),
  ...(userId !== undefined ? { user_id: userId } : {}),
});

export const periodLength = (interval: string | undefined, count = 1): number =>
  (interval === 'year' ? 365 : interval === 'week' ? 7 : interval === 'day' ? 1 : 30) *
  DAY_SECONDS *
  count;
