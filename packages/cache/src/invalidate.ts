import type { RedisClient } from '@billing/queue';
import { USAGE_FIELD_PREFIX, invalidationChannel, userKey } from './keys.js';

/** `all`: everything cached for the user (billing state changed). `usage`: only usage figures. */
export type InvalidationScope = 'all' | 'usage';

export interface InvalidationMessage {
  userIds: string[];
  scope: InvalidationScope;
}

/**
 * Drops the users' cached billing state from Redis (L2) and publishes a message on which
 * every API instance drops its in-process (L1) copies. Call after the commit that changed
 * the state, never before: a read between an early delete and the commit would re-cache
 * the old state. DESIGN invariant 7.
 */
export async function invalidateUsers(
  redis: RedisClient,
  prefix: string,
  userIds: Iterable<string>,
  scope: InvalidationScope = 'all',
): Promise<void> {
  const ids = [...new Set(userIds)].filter(Boolean);
  if (ids.length === 0) return;
  if (scope === 'all') {
    // One DEL per key: on a cluster the keys may live on different slots.
    await Promise.all(ids.map((id) => redis.del(userKey(prefix, id))));
  } else {
    await Promise.all(ids.map((id) => deleteUsageFields(redis, userKey(prefix, id))));
  }
  const message: InvalidationMessage = { userIds: ids, scope };
  await redis.publish(invalidationChannel(prefix), JSON.stringify(message));
}

async function deleteUsageFields(redis: RedisClient, key: string): Promise<void> {
  const names = await redis.hkeys(key);
  const usage = names.filter((name) => name.startsWith(USAGE_FIELD_PREFIX));
  if (usage.length > 0) await redis.hdel(key, ...usage);
}

export function parseInvalidation(raw: string): InvalidationMessage | undefined {
  try {
    const parsed = JSON.parse(raw) as Partial<InvalidationMessage>;
    if (!Array.isArray(parsed.userIds) || (parsed.scope !== 'all' && parsed.scope !== 'usage')) return undefined;
    return { userIds: parsed.userIds.filter((id): id is string => typeof id === 'string'), scope: parsed.scope };
  } catch {
    return undefined;
  }
}
