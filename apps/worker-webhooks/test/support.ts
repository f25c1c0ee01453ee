import { DEFAULT_PLANS_FILE, loadPlanList } from '@billing/config';
import { createDb, type DbHandle, seedPlans } from '@billing/db';
import { moduleLogger } from '@billing/logger';
import type { StripeEventPayload } from '@billing/queue';
import { closeRedis, createRedis } from '@billing/redis';
import type { TestServices } from '@billing/testing';
import type { Redis } from 'ioredis';
import type { ProcessDeps } from '../src/process-event.js';

/** The job payload exactly as the ingress enqueues it (`raw` = the signed body). */
export function jobPayload(
  event: { id: string; type: string },
  raw = JSON.stringify(event, null, 2),
): StripeEventPayload {
  return { eventId: event.id, type: event.type, raw, receivedAt: Date.now(), secretIndex: 0 };
}

export interface Harness {
  db: DbHandle;
  redis: Redis;
  deps: ProcessDeps;
  close(): Promise<void>;
}

/** Real Postgres (the file's own database, plans seeded from config/plans.json) and Redis. */
export async function harness(
  services: TestServices,
  overrides: Partial<ProcessDeps> = {},
): Promise<Harness> {
  const lockTimeoutMs = overrides.lockTimeoutMs ?? 5_000;
  // As in main.ts: the lock timeout is a setting of the pool's connections.
  const db = createDb({
    url: services.databaseUrl,
    max: 12,
    applicationName: 'worker-webhooks-test',
    lockTimeoutMs,
  });
  await seedPlans(db.db, loadPlanList(DEFAULT_PLANS_FILE));
  const redis = createRedis(services.redisUrl, {
    role: 'worker',
    connectionName: 'worker-webhooks-test',
  });
  const deps: ProcessDeps = {
    db: db.db,
    redis,
    redisPrefix: services.redisPrefix,
    logger: moduleLogger('worker-webhooks-test'),
    ...overrides,
    lockTimeoutMs,
  };
  return {
    db,
    redis,
    deps,
    close: async () => {
      await closeRedis(redis);
      await db.close();
    },
  };
}

/** Polls until `check` returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
