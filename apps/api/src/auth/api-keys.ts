import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { apiKeys, type Database } from '@billing/db';
import type { RedisClient } from '@billing/redis';
import { and, eq, isNull } from 'drizzle-orm';

/** Keys look like `bk_<43 base64url chars>` (256 random bits). Only the SHA-256 is stored. */
export const API_KEY_PREFIX = 'bk_';

export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

export interface NewApiKey {
  /** The plaintext key: shown once, never stored. */
  key: string;
  id: string;
  keyPrefix: string;
}

/** Creates a key for `userId` (scope `user`) or for the SaaS backend (scope `service`). */
export async function createApiKey(
  db: Database,
  options: { scope: 'user' | 'service'; userId?: string; name?: string; expiresAt?: Date },
): Promise<NewApiKey> {
  if (options.scope === 'user' && !options.userId) throw new Error('a user key needs a userId');
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const id = `key_${randomUUID()}`;
  const keyPrefix = key.slice(0, 10);
  await db.insert(apiKeys).values({
    id,
    keyHash: hashApiKey(key),
    keyPrefix,
    scope: options.scope,
    userId: options.scope === 'user' ? options.userId : null,
    name: options.name ?? null,
    expiresAt: options.expiresAt ?? null,
  });
  return { key, id, keyPrefix };
}

/**
 * Channel on which revocations are announced, under REDIS_PREFIX like the cache's
 * invalidations. The message is the key's SHA-256: every API instance drops it from its
 * in-process key cache at once instead of trusting it until the cache entry expires.
 */
export const revocationChannel = (prefix: string) => `${prefix}:auth:revoked`;

/**
 * Revokes an active key and announces it. Returns false when no active key has that id.
 * Redis down: the key is still revoked in Postgres; instances then see it when their cache
 * entry expires (keyCacheTtlMs), so the error is returned for the caller to report.
 */
export async function revokeApiKey(
  db: Database,
  keyId: string,
  announce?: { redis: RedisClient; prefix: string },
): Promise<{ revoked: boolean; announced: boolean; error?: Error }> {
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)))
    .returning({ keyHash: apiKeys.keyHash });
  const row = rows[0];
  if (!row) return { revoked: false, announced: false };
  if (!announce) return { revoked: true, announced: false };
  try {
    await announce.redis.publish(revocationChannel(announce.prefix), row.keyHash);
    return { revoked: true, announced: true };
  } catch (error) {
    return { revoked: true, announced: false, error: error as Error };
  }
}
