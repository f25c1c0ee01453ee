import { createDb } from '@billing/db';
import { useTestServices } from '@billing/testing';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageLimiterUnavailableError } from '../src/errors.js';
import { ingestUsage } from '../src/ingest.js';
import {
  correctDrift,
  limitCounterValue,
  limitKey,
  measureAllDrift,
  measureDrift,
  type UsageLimiter,
} from '../src/limiter.js';
import { createUsageDriftMetrics } from '../src/metrics.js';
import { freePeriodAt } from '../src/period.js';
import { rollup } from '../src/rollup.js';
import { getUsageSnapshot } from '../src/snapshot.js';
import { METRICS, record, testConfig } from './helpers.js';

const services = await useTestServices('usage-limit');
const { sql, close } = createDb({ url: services.databaseUrl, max: 12 });
const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 1 });
afterAll(async () => {
  redis.disconnect();
  await close();
});

const LIMIT = 100;
const config = testConfig();
const now = new Date('2026-03-20T12:00:00Z');
const period = freePeriodAt(now, config);
const limiter: UsageLimiter = { redis, prefix: services.redisPrefix, limitOf: async () => LIMIT };
const enforced = (records: unknown[], atomic = false) =>
  ingestUsage(sql, records, { atomic, enforceLimit: true, limiter, metrics: METRICS, now, config });
const plain = (records: unknown[]) =>
  ingestUsage(sql, records, { atomic: false, limiter, metrics: METRICS, now, config });
const counter = (userId: string) =>
  limitCounterValue(limiter, { userId, metric: 'compute_minutes', periodStart: period.start });
const used = async (userId: string) =>
  (await getUsageSnapshot(sql, { userId, metric: 'compute_minutes', now, config })).used;

describe('enforceLimit', () => {
  it('50 concurrent records of 1 unit at one unit below the limit admit exactly one', async () => {
    // 99 units already used, partly rolled up and partly in the tail; no Redis counter yet
    await plain(Array.from({ length: 60 }, (_, i) => record('u_race', `old-${i}`, 1, now)));
    await rollup(sql, { userId: 'u_race', chunkSize: 25 });
    await plain(Array.from({ length: 39 }, (_, i) => record('u_race', `tail-${i}`, 1, now)));
    expect(await counter('u_race')).toBeNull();

    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => enforced([record('u_race', `race-${i}`, 1, now)])),
    );
    expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(1);
    expect(results.flatMap((r) => r.rejected.map((x) => x.error))).toEqual(
      Array(49).fill('limit_exceeded'),
    );
    expect(await used('u_race')).toBe(LIMIT);
    expect(await counter('u_race')).toBe(LIMIT);
    expect(
      (
        await measureDrift(sql, limiter, {
          userId: 'u_race',
          metric: 'compute_minutes',
          periodStart: period.start,
        })
      ).drift,
    ).toBe(0);
  });

  it('the counter is seeded from Postgres with a TTL until after the period end', async () => {
    await plain([record('u_seed', 'a', 40, now)]);
    await enforced([record('u_seed', 'b', 2, now)]);
    expect(await counter('u_seed')).toBe(42);
    const ttl = await redis.pttl(
      limitKey(services.redisPrefix, 'u_seed', 'compute_minutes', period.start),
    );
    expect(ttl).toBeGreaterThan(period.end.getTime() - now.getTime());
  });

  it('a retry of an admitted record at the limit is a duplicate, not limit_exceeded, and reserves nothing', async () => {
    await enforced([record('u_retry', 'big', LIMIT, now)]);
    const retry = await enforced([record('u_retry', 'big', LIMIT, now)]);
    expect(retry).toMatchObject({ accepted: 0, duplicates: 1, rejected: [] });
    expect(await counter('u_retry')).toBe(LIMIT);
  });

  it('20 concurrent retries of one enforced record store it once and release the other reservations', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => enforced([record('u_dups', 'once', 3, now)])),
    );
    expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(1);
    expect(results.reduce((n, r) => n + r.duplicates, 0)).toBe(19);
    expect(await used('u_dups')).toBe(3);
    expect(await counter('u_dups')).toBe(3);
  });

  it('a batch over the limit admits records in order while they fit (atomic=false)', async () => {
    const result = await enforced([
      record('u_batch', 'a', 60, now),
      record('u_batch', 'b', 50, now),
      record('u_batch', 'c', 40, now),
    ]);
    expect(result).toMatchObject({
      accepted: 2,
      rejected: [{ index: 1, error: 'limit_exceeded' }],
    });
    expect(await used('u_batch')).toBe(100);
    expect(await counter('u_batch')).toBe(100);
  });

  it('atomic=true with one record over the limit stores nothing and gives the reservations back', async () => {
    await enforced([record('u_atomic', 'base', 10, now)]);
    const result = await enforced(
      [record('u_atomic', 'a', 60, now), record('u_atomic', 'b', 50, now)],
      true,
    );
    expect(result).toMatchObject({
      accepted: 0,
      rejected: [
        { index: 0, error: 'batch_rejected' },
        { index: 1, error: 'limit_exceeded' },
      ],
    });
    expect(await used('u_atomic')).toBe(10);
    expect(await counter('u_atomic')).toBe(10);
  });

  it('records stored without enforceLimit and corrections keep an existing counter in step', async () => {
    await enforced([record('u_follow', 'a', 5, now)]);
    await plain([record('u_follow', 'b', 7, now)]);
    await plain([record('u_follow', 'fix', -2, now, 'compute_minutes', { correctsKey: 'a' })]);
    expect(await used('u_follow')).toBe(10);
    expect(await counter('u_follow')).toBe(10);
  });

  it('with Redis unreachable an enforced batch fails with UsageLimiterUnavailableError and stores nothing', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    const offline: UsageLimiter = {
      redis: down,
      prefix: services.redisPrefix,
      limitOf: async () => LIMIT,
    };
    await expect(
      ingestUsage(sql, [record('u_down', 'a', 1, now)], {
        atomic: false,
        enforceLimit: true,
        limiter: offline,
        metrics: METRICS,
        now,
        config,
      }),
    ).rejects.toBeInstanceOf(UsageLimiterUnavailableError);
    expect(await used('u_down')).toBe(0);
    down.disconnect();
  });
});

describe('drift between the Redis counters and Postgres', () => {
  it('is measured for every counter and exported as gauges', async () => {
    await enforced([record('u_drift', 'a', 5, now)]);
    // simulate a lost release: Redis says 8, Postgres says 5
    await redis.hincrby(
      limitKey(services.redisPrefix, 'u_drift', 'compute_minutes', period.start),
      'n',
      3,
    );
    const samples = await measureAllDrift(sql, limiter);
    const drifted = samples.find((s) => s.userId === 'u_drift');
    expect(drifted).toMatchObject({ redis: 8, postgres: 5, drift: 3 });
    expect(samples.filter((s) => s.userId !== 'u_drift').every((s) => s.drift === 0)).toBe(true);

    const registry = new Registry();
    createUsageDriftMetrics(registry).record(samples);
    const text = await registry.metrics();
    expect(text).toContain('usage_limit_drift_units{metric="compute_minutes"} 3');
    expect(text).toContain('usage_limit_drift_max_units{metric="compute_minutes"} 3');
  });

  it('a drifted counter is corrected by the next check, and later writes keep it exact', async () => {
    await enforced([record('u_fix', 'a', 5, now)]);
    await plain([record('u_fix', 'b', 4, now)]);
    const key = limitKey(services.redisPrefix, 'u_fix', 'compute_minutes', period.start);
    const registry = new Registry();
    const metrics = createUsageDriftMetrics(registry);
    // Behind the limiter's back, both ways: too strict, then (after the fix) too lenient.
    for (const change of [7, -6]) {
      await redis.hincrby(key, 'n', change);
      const before = await counter('u_fix');
      const samples = (await measureAllDrift(sql, limiter)).filter((s) => s.userId === 'u_fix');
      expect(samples[0]?.drift).toBe(change);
      const corrections = await correctDrift(sql, limiter, samples, { confirmMs: 10 });
      expect(corrections.map((c) => [c.sample.drift, c.corrected])).toEqual([[change, true]]);
      metrics.corrected(corrections);
      expect({ before, after: await counter('u_fix') }).toEqual({ before: 9 + change, after: 9 });
    }
    await Promise.all([
      enforced([record('u_fix', 'c', 1, now)]),
      plain([record('u_fix', 'd', 1, now)]),
    ]);
    expect(await counter('u_fix')).toBe(11);
    expect(await used('u_fix')).toBe(11);
    expect(await registry.metrics()).toContain(
      'usage_limit_drift_corrections_total{metric="compute_minutes"} 2',
    );
  });

  it('a counter that is exact is left alone by the check', async () => {
    await enforced([record('u_exact', 'a', 5, now)]);
    const samples = (await measureAllDrift(sql, limiter)).filter((s) => s.userId === 'u_exact');
    expect(samples[0]?.drift).toBe(0);
    expect(await correctDrift(sql, limiter, samples, { confirmMs: 10 })).toEqual([]);
  });
});

/**
 * A limiter whose Redis client stops at its `call`-th script run (1-based, counting the runs
 * Redis answered: a NOSCRIPT miss and its retry count once): before sending it, or after
 * Redis has answered it (the script ran, its caller has not seen the result). `reached`
 * resolves when the call is held; `release` lets it go on.
 */
function heldLimiter(call: number, when: 'before' | 'after') {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let reached!: () => void;
  const held = new Promise<void>((resolve) => {
    reached = resolve;
  });
  let answered = 0;
  let holding = false;
  const gated = new Proxy(redis, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== 'evalsha' && prop !== 'eval') return value;
      return async (...args: unknown[]) => {
        if (when === 'before' && !holding && answered === call - 1) {
          holding = true;
          reached();
          await gate;
        }
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        answered++;
        if (when === 'after' && answered === call) {
          reached();
          await gate;
        }
        return result;
      };
    },
  });
  return { limiter: { ...limiter, redis: gated } as UsageLimiter, reached: held, release };
}

const enforcedWith = (custom: UsageLimiter, records: unknown[]) =>
  ingestUsage(sql, records, {
    atomic: false,
    enforceLimit: true,
    limiter: custom,
    metrics: METRICS,
    now,
    config,
  });

describe('a reservation in flight while the counter is seeded again', () => {
  // Calls of an enforced write on a counter that does not exist yet: 1 RESERVE (no seed),
  // 2 BEGIN_SEED, 3 COMPLETE_SEED, 4 RESERVE (admitted), then its settle after the commit.

  it('a write that found no counter and goes on after another seeded it and reserved the last unit is refused', async () => {
    await plain([record('u_reseed', 'base', LIMIT - 1, now)]);
    // C finds no counter and stops before seeding; B seeds it, reserves the last unit and
    // stops before its insert; then C goes on. Re-seeding now would read 99 from Postgres
    // (B's row is not committed) and forget B's unit: C would be admitted too.
    const c = heldLimiter(2, 'before');
    const cWrite = enforcedWith(c.limiter, [record('u_reseed', 'c', 1, now)]);
    await c.reached;
    const b = heldLimiter(4, 'after');
    const bWrite = enforcedWith(b.limiter, [record('u_reseed', 'b', 1, now)]);
    await b.reached;
    c.release();
    const cResult = await cWrite;
    b.release();
    const bResult = await bWrite;
    expect({ b: bResult.accepted, c: cResult.rejected.map((r) => r.error) }).toEqual({
      b: 1,
      c: ['limit_exceeded'],
    });
    expect(await used('u_reseed')).toBe(LIMIT);
    expect(await counter('u_reseed')).toBe(LIMIT);
  });

  it('a drift correction while a reservation is in flight keeps the reservation counted', async () => {
    await plain([record('u_inflight', 'base', LIMIT - 1, now)]);
    const b = heldLimiter(4, 'after');
    const bWrite = enforcedWith(b.limiter, [record('u_inflight', 'b', 1, now)]);
    await b.reached;
    // B holds the last unit and has not inserted: the counter is one above Postgres, which
    // the drift check sees twice (B is still in flight) and corrects by re-seeding.
    const target = { userId: 'u_inflight', metric: 'compute_minutes', periodStart: period.start };
    const sample = await measureDrift(sql, limiter, target);
    expect(sample.drift).toBe(1);
    const corrections = await correctDrift(sql, limiter, [sample], { confirmMs: 1 });
    expect(corrections.map((c) => c.corrected)).toEqual([true]);
    expect(await counter('u_inflight')).toBe(LIMIT);
    // The re-seeded counter still holds B's unit: another write is refused.
    const d = await enforced([record('u_inflight', 'd', 1, now)]);
    expect(d.rejected.map((r) => r.error)).toEqual(['limit_exceeded']);
    b.release();
    expect((await bWrite).accepted).toBe(1);
    expect(await used('u_inflight')).toBe(LIMIT);
    expect(await counter('u_inflight')).toBe(LIMIT);
    expect((await measureDrift(sql, limiter, target)).drift).toBe(0);
  });

  it('a re-seed drops a reservation whose write died before settling, once it is older than the limit', async () => {
    await plain([record('u_lost', 'base', 10, now)]);
    await enforced([record('u_lost', 'a', 1, now)]);
    const key = limitKey(services.redisPrefix, 'u_lost', 'compute_minutes', period.start);
    // A write that reserved 5 units and died: its reservation is still recorded, and old.
    await redis.hincrby(key, 'n', 5);
    await redis.hset(key, 'r:dead-write', `5:${Date.now() - 10 * 60_000}`);
    const target = { userId: 'u_lost', metric: 'compute_minutes', periodStart: period.start };
    const sample = await measureDrift(sql, limiter, target);
    expect(sample.drift).toBe(5);
    await correctDrift(sql, limiter, [sample], { confirmMs: 1 });
    expect(await counter('u_lost')).toBe(11);
    expect(await redis.hexists(key, 'r:dead-write')).toBe(0);
  });
});
