import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { useTestServices } from '@billing/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../src/auth/api-keys.js';
import { startTestApi, type TestApi, uniqueUser } from './support.js';

/**
 * Two API instances that have both cached a user key for 10 minutes: a revocation is
 * announced over Redis and both refuse the key at once, not after their cache TTL (it was
 * up to 30 s). Keys may also carry an expiry.
 */
const services = await useTestServices('api-key-revocation');
let a: TestApi;
let b: TestApi;
let publisher: ReturnType<typeof createRedis>;

beforeAll(async () => {
  const config = { keyCacheTtlMs: 600_000 };
  a = await startTestApi(services, { config, revocations: true });
  b = await startTestApi(services, { config, revocations: true });
  publisher = createRedis(services.redisUrl, { role: 'producer' });
  await waitReady(publisher);
});
afterAll(async () => {
  if (publisher) await closeRedis(publisher);
  await a?.close();
  await b?.close();
});

const status = async (t: TestApi, token: string) =>
  (await t.call('/api/billing/subscription', { token })).status;

describe('API key revocation reaches every instance at once', () => {
  it('a key cached on two instances is refused by both right after revokeApiKey', async () => {
    const key = await createApiKey(a.db, { scope: 'user', userId: uniqueUser('rev') });
    expect([await status(a, key.key), await status(b, key.key)]).toEqual([200, 200]);

    const result = await revokeApiKey(a.db, key.id, {
      redis: publisher,
      prefix: services.redisPrefix,
    });
    expect(result).toEqual({ revoked: true, announced: true });
    // Pub/sub delivery is asynchronous; a few hundred ms at most, far inside the 10 min TTL.
    const deadline = Date.now() + 20_000;
    let seen: number[] = [];
    while (Date.now() < deadline) {
      seen = [await status(a, key.key), await status(b, key.key)];
      if (seen[0] === 401 && seen[1] === 401) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(seen).toEqual([401, 401]);
    expect((await revokeApiKey(a.db, key.id)).revoked).toBe(false);
  });

  it('without the announcement the cached key keeps working (what the subscriber fixes)', async () => {
    const key = await createApiKey(a.db, { scope: 'user', userId: uniqueUser('quiet') });
    expect(await status(a, key.key)).toBe(200);
    await revokeApiKey(a.db, key.id); // Postgres only, nothing published
    expect(await status(a, key.key)).toBe(200);
  });
});

describe('expires_at', () => {
  it('a key past its expiry is refused; one that expires later works', async () => {
    const user = uniqueUser('exp');
    const expired = await createApiKey(a.db, {
      scope: 'user',
      userId: user,
      expiresAt: new Date(Date.now() - 1_000),
    });
    const later = await createApiKey(a.db, {
      scope: 'user',
      userId: user,
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    expect(await status(b, expired.key)).toBe(401);
    expect(await status(b, later.key)).toBe(200);
  });
});
