import { randomBytes } from 'node:crypto';
import { type RedisClient, runScript } from '@billing/redis';
import { globalKey, invalidationChannel, USER_HASH_TTL_MS, userKey } from './keys.js';
import { INVALIDATE_ALL, INVALIDATE_USAGE } from './scripts.js';

/** `all`: everything cached for the user (billing state changed). `usage`: only usage figures. */
export type InvalidationScope = 'all' | 'usage';

export interface InvalidationMessage {
  userIds: string[];
  scope: InvalidationScope;
  /** Global entries to drop (e.g. the resolved plan list after a price changed). */
  globals?: string[];
}

/**
 * How long the generation marker outlives an invalidation: longer than any read-then-load
 * window, so a reader that started before the invalidation always sees a different marker.
 */
const GEN_TTL_MS = Math.max(USER_HASH_TTL_MS, 10 * 60_000);

const token = () => randomBytes(9).toString('base64url');

/**
 * Drops the users' cached billing state from Redis (L2) and publishes a message on which
 * every API instance drops its in-process (L1) copies. Call after the commit that changed
 * the state, never before: a read between an early delete and the commit would re-cache
 * the old state. DESIGN invariant 7.
 *
 * Each user's hash gets a fresh generation marker in the same atomic step, so a reader that
 * loaded from Postgres before the commit cannot write its (old) value back afterwards.
 */
export async function invalidateUsers(
  redis: RedisClient,
  prefix: string,
  userIds: Iterable<string>,
  scope: InvalidationScope = 'all',
): Promise<void> {
  const ids = [...new Set(userIds)].filter(Boolean);
  if (ids.length === 0) return;
  const script = scope === 'all' ? INVALIDATE_ALL : INVALIDATE_USAGE;
  // One script per key: on a cluster the keys may live on different slots.
  await Promise.all(
    ids.map((id) => runScript(redis, script, [userKey(prefix, id)], [token(), GEN_TTL_MS])),
  );
  const message: InvalidationMessage = { userIds: ids, scope };
  await redis.publish(invalidationChannel(prefix), JSON.stringify(message));
}

/** Drops global entries (see `globals` in keys.ts) everywhere, e.g. after a price changed. */
export async function invalidateGlobals(
  redis: RedisClient,
  prefix: string,
  names: Iterable<string>,
): Promise<void> {
  const list = [...new Set(names)].filter(Boolean);
  if (list.length === 0) return;
  await Promise.all(
    list.map((name) =>
      runScript(redis, INVALIDATE_ALL, [globalKey(prefix, name)], [token(), GEN_TTL_MS]),
    ),
  );
  const message: InvalidationMessage = { userIds: [], scope: 'all', globals: list };
  await redis.publish(invalidationChannel(prefix), JSON.stringify(message));
}

export function parseInvalidation(raw: string): InvalidationMessage | undefined {
  try {
    const parsed = JSON.parse(raw) as Partial<InvalidationMessage>;
    if (!Array.isArray(parsed.userIds) || (parsed.scope !== 'all' && parsed.scope !== 'usage'))
      return undefined;
    const message: InvalidationMessage = {
      userIds: parsed.userIds.filter((id): id is string => typeof id === 'string'),
      scope: parsed.scope,
    };
    if (Array.isArray(parsed.globals)) {
      message.globals = parsed.globals.filter((name): name is string => typeof name === 'string');
    }
    return message;
  } catch {
    return undefined;
  }
}
