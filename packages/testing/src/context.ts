import { afterAll, inject } from 'vitest';
import { createTestDatabase, flushPrefix, testRedisPrefix } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    services: { databaseUrl: string; redisUrl: string };
  }
}

export interface TestServices {
  /** A database of this test file's own, migrated. */
  databaseUrl: string;
  redisUrl: string;
  /** A Redis key prefix of this test file's own (queues, cache, rate limits). */
  redisPrefix: string;
}

/**
 * Call at the top of an integration test file (top-level await). Gives the file its own
 * database and Redis prefix and removes both when the file ends, so files run in parallel
 * and leave nothing behind.
 */
export async function useTestServices(label = 't'): Promise<TestServices> {
  const services = inject('services');
  const database = await createTestDatabase(services.databaseUrl);
  const redisPrefix = testRedisPrefix(label);
  afterAll(async () => {
    await database.drop();
    await flushPrefix(services.redisUrl, redisPrefix);
  });
  return { databaseUrl: database.url, redisUrl: services.redisUrl, redisPrefix };
}
