import { randomBytes } from 'node:crypto';
import {
  GEN_FIELD,
  globalKey,
  globals,
  invalidateGlobals,
  invalidateUsers,
  invalidationChannel,
  USER_HASH_TTL_MS,
  userKey,
} from '@billing/cache';
import type { Logger } from '@billing/logger';
import { defineScript, type RedisClient, runScript } from '@billing/redis';
import { Cluster } from 'ioredis';
import type { WorkerMetrics } from './metrics.js';

/**
 * One script per batch: for every affected user's hash (and the catalogue entry when a price,
 * product or plan changed) DEL it and set a fresh generation marker, then PUBLISH one
 * invalidation naming them all, so every API instance drops its L1 copies. Same effect per
 * key as `@billing/cache`'s per-user script (a reader that loaded before the commit cannot
 * write its old value back), in one round trip instead of one per user.
 *
 * KEYS: the hashes; ARGV: token, ttlMs, channel, message.
 */
const INVALIDATE_BATCH = defineScript(`
for i = 1, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('HSET', KEYS[i], '${GEN_FIELD}', ARGV[1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2]))
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return #KEYS
`);

/** How long a generation marker outlives an invalidation (as in @billing/cache). */
const GEN_TTL_MS = Math.max(USER_HASH_TTL_MS, 10 * 60_000);

export interface InvalidateDeps {
  redis: RedisClient;
  redisPrefix: string;
  logger: Logger;
  invalidationTimeoutMs?: number;
  metrics?: WorkerMetrics;
}

/**
 * After the batch's commit, never before (DESIGN invariant 7): a read between an early delete
 * and the commit would re-cache old state. A failure is logged and counted; the commit stands
 * and the entries expire by TTL.
 */
export async function invalidateAfterCommit(
  deps: InvalidateDeps,
  userIds: ReadonlySet<string>,
  catalogue: boolean,
): Promise<void> {
  if (userIds.size === 0 && !catalogue) return;
  const timeoutMs = deps.invalidationTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      run(deps, [...userIds], catalogue),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`cache invalidation timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    deps.metrics?.invalidationFailures.inc();
    deps.logger.error(
      { err: error, users: userIds.size },
      'cache invalidation failed after commit',
    );
  } finally {
    clearTimeout(timer);
  }
}

async function run(deps: InvalidateDeps, ids: string[], catalogue: boolean): Promise<void> {
  const { redis, redisPrefix: prefix } = deps;
  if (redis instanceof Cluster) {
    // Keys of one script must share a slot; on a cluster they do not: per key, as before.
    await Promise.all([
      invalidateUsers(redis, prefix, ids),
      catalogue ? invalidateGlobals(redis, prefix, [globals.catalogue]) : undefined,
    ]);
    return;
  }
  const keys = ids.map((id) => userKey(prefix, id));
  if (catalogue) keys.push(globalKey(prefix, globals.catalogue));
  const message = JSON.stringify({
    userIds: ids,
    scope: 'all',
    ...(catalogue ? { globals: [globals.catalogue] } : {}),
  });
  await runScript(redis, INVALIDATE_BATCH, keys, [
    randomBytes(9).toString('base64url'),
    GEN_TTL_MS,
    invalidationChannel(prefix),
    message,
  ]);
}
