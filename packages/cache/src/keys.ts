/**
 * Cache key layout. Bump CACHE_VERSION when a cached value's shape changes: old entries are
 * then simply never read again and expire by TTL.
 *
 * Everything cached for one user lives in one Redis hash, so invalidating a user is a
 * single atomic script on one key no matter how many metrics or previews exist. Each field
 * holds a JSON envelope `{ e: expiresAtMs, v: value }` (Redis 7.0 has no per-field TTL); the
 * hash itself expires after the longest field TTL.
 *
 * Two reserved fields guard against the "slow reader re-caches old state" race
 * (DESIGN invariant 7): `~gen` changes on every `all` invalidation, `~ugen` on every `usage`
 * invalidation. A reader notes them before loading from Postgres and its write-back only
 * lands if they are unchanged.
 */
export const CACHE_VERSION = 'v1';

export const cacheRoot = (prefix: string) => `${prefix}:cache:${CACHE_VERSION}`;
export const userKey = (prefix: string, userId: string) => `${cacheRoot(prefix)}:user:${userId}`;
export const globalKey = (prefix: string, name: string) => `${cacheRoot(prefix)}:global:${name}`;
export const invalidationChannel = (prefix: string) => `${cacheRoot(prefix)}:invalidate`;

/** Field names inside a user's hash. */
export const fields = {
  subscription: 'subscription',
  usage: (metric: string) => `usage:${metric}`,
  /** A preview at a given proration date, or (none given) the one computed for "now". */
  proration: (planId: string, interval: string, prorationDate?: number) =>
    `proration:${planId}:${interval}${prorationDate === undefined ? '' : `:${prorationDate}`}`,
} as const;
export const USAGE_FIELD_PREFIX = 'usage:';

/**
 * What a lookup's `entry` metric label can be: each per-user field family (the field name up
 * to its first `:`) and `global`.
 */
export const ENTRY_KINDS = ['subscription', 'usage', 'proration', 'global'] as const;

/** Generation fields (never returned as cached values). */
export const GEN_FIELD = '~gen';
export const USAGE_GEN_FIELD = '~ugen';

/** Global entry names. */
export const globals = {
  /**
   * The plan list with its prices resolved (lookup keys → Stripe prices). The name is the
   * Redis key that API instances and workers of different versions share during a deploy,
   * so it stays as it is.
   */
  catalogue: 'catalogue',
} as const;

/** TTLs from the design, in milliseconds. */
export const CACHE_TTLS = {
  catalogue: 60 * 60_000,
  prices: 60 * 60_000,
  subscription: 5 * 60_000,
  usage: 2 * 60_000,
  proration: 5 * 60_000,
} as const;

/** How long a user's hash outlives its last write: the longest per-user field TTL. */
export const USER_HASH_TTL_MS = Math.max(
  CACHE_TTLS.subscription,
  CACHE_TTLS.usage,
  CACHE_TTLS.proration,
);
