import { createDb } from '@billing/db';
import { useTestServices } from '@billing/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ingestUsage } from '../src/ingest.js';
import { limitCounterValue, type UsageLimiter } from '../src/limiter.js';
import { freePeriodAt } from '../src/period.js';
import { getUsageSnapshot } from '../src/snapshot.js';
import { METRICS, record, testConfig } from './helpers.js';

const services = await useTestServices('usage-counter-race');
const { sql, close } = createDb({ url: services.databaseUrl, max: 24 });
const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 1 });
afterAll(async () => {
  redis.disconnect();
  await close();
});

const LIMIT = 100;
const ROUNDS = 25;
const EACH = 50;
const config = testConfig();
const now = new Date('2026-03-20T12:00:00Z');
const period = freePeriodAt(now, config);
const limiter: UsageLimiter = { redis, prefix: services.redisPrefix, limitOf: async () => LIMIT };
const write = (userId: string, key: string, enforceLimit: boolean) =>
  ingestUsage(sql, [record(userId, key, 1, now)], {
    atomic: false,
    enforceLimit,
    limiter,
    metrics: METRICS,
    now,
    config,
  });

describe('the limit counter while enforced and plain writes race on a new counter', () => {
  it(`${EACH} enforced + ${EACH} plain 1-unit records, ${ROUNDS} rounds: ledger = counter = snapshot, nothing refused`, async () => {
    const mismatches: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const userId = `u_mix_${round}`;
      const results = await Promise.all(
        Array.from({ length: EACH * 2 }, (_, i) => write(userId, `k${i}`, i % 2 === 0)),
      );
      const refused = results.flatMap((r) => r.rejected.map((x) => x.error)).length;
      const [ledger] = await sql<{ total: string }[]>`
        select coalesce(sum(quantity), 0)::text as total from usage_ledger where user_id = ${userId}`;
      const counter = await limitCounterValue(limiter, {
        userId,
        metric: 'compute_minutes',
        periodStart: period.start,
      });
      const snapshot = (
        await getUsageSnapshot(sql, { userId, metric: 'compute_minutes', now, config })
      ).used;
      const figures = { ledger: Number(ledger?.total), counter, snapshot, refused };
      if (figures.ledger !== LIMIT || counter !== LIMIT || snapshot !== LIMIT || refused > 0)
        mismatches.push(`round ${round}: ${JSON.stringify(figures)}`);
    }
    expect(mismatches).toEqual([]);
  }, 300_000);
});
