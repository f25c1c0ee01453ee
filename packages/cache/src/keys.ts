/**
 * Cache key layout. Bump CACHE_VERSION when a cached value's shape changes: old entries are
 * then simply never read again and expire by TTL.
 *
 * Everything cached for one user lives in one Redis hash, so invalidating a user is a
 * single DEL (or HDEL of the usage fields) no matter how many metrics or previews exist.
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
  proration: (planId: string, interval: string) => `proration:${planId}:${interval}`,
} as const;
export const USAGE_FIELD_PREFIX = 'usage:';
