import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { apiKeys, type Database } from '@billing/db';

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
  options: { scope: 'user' | 'service'; userId?: string; name?: string },
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
  });
  return { key, id, keyPrefix };
}
