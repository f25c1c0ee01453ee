import { rootLogger } from '@billing/logger';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { useTestServices } from '@billing/testing';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTieredCache, type TieredCache } from '../src/cache.js';
import { invalidateGlobals, invalidateUsers } from '../src/invalidate.js';
import { fields, GEN_FIELD, globalKey, userKey } from '../src/keys.js';

const services = await useTestServices('cache');
const prefix = services.redisPrefix;
const logger = rootLogger();
const worker = createRedis(services.redisUrl, { role: 'producer' });
const clients: { close(): Promise<void> }[] = [];

async function newCache(options: { url?: string; registry?: Registry; now?: () => number } = {}) {
  const redis = createRedis(options.url ?? services.redisUrl, { role: 'cache' });
  redis.on('error', () => {});
  const cache = createTieredCache({
    redis,
    prefix,
    logger,
    registry: options.registry,
    now: options.now,
  });
  if (!options.url) await waitReady(redis);
  await cache.start(options.url ? 200 : 3_000);
  clients.push({
    close: async () => {
      await cache.close();
      await closeRedis(redis);
    },
  });
  return cache;
}

/** A loader that counts its calls and returns the current `value`. */
function source<T>(initial: T) {
  const state = { value: initial, calls: 0 };
  return {
    state,
    load: async () => {
      state.calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return state.value;
    },
  };
}

const deferred = <T>() => {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

/** Waits until the pub/sub message has reached `cache` (it is delivered asynchronously). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

let a: TieredCache;
let b: TieredCache;
let userSeq = 0;
const nextUser = () => `u${++userSeq}-${Date.now()}`;

beforeAll(async () => {
  await waitReady(worker);
  a = await newCache();
  b = await newCache();
});

afterAll(async () => {
  for (const client of clients) await client.close();
  await closeRedis(worker);
});

describe('read-through', () => {
  it('loads once, then answers from L1; the value is in Redis with its expiry', async () => {
    const user = nextUser();
    const src = source({ plan: 'pro' });
    expect(await a.user(user, fields.subscription, 60_000, src.load)).toEqual({ plan: 'pro' });
    expect(await a.user(user, fields.subscription, 60_000, src.load)).toEqual({ plan: 'pro' });
    expect(src.state.calls).toBe(1);
    const raw = JSON.parse((await worker.hget(userKey(prefix, user), fields.subscription))!);
    expect(raw.v).toEqual({ plan: 'pro' });
    expect(raw.e).toBeGreaterThan(Date.now());
    expect(await worker.pttl(userKey(prefix, user))).toBeGreaterThan(0);
  });

  it('another instance answers from Redis (L2) without loading', async () => {
    const user = nextUser();
    const src = source('x');
    await a.user(user, fields.subscription, 60_000, src.load);
    expect(await b.user(user, fields.subscription, 60_000, src.load)).toBe('x');
    expect(src.state.calls).toBe(1);
  });

  it('caches null (a free user has no subscription)', async () => {
    const user = nextUser();
    const src = source<null>(null);
    expect(await a.user(user, fields.subscription, 60_000, src.load)).toBeNull();
    expect(await b.user(user, fields.subscription, 60_000, src.load)).toBeNull();
    expect(src.state.calls).toBe(1);
  });

  it('50 concurrent misses for one key make one loader call', async () => {
    const user = nextUser();
    const src = source({ n: 1 });
    const results = await Promise.all(
      Array.from({ length: 50 }, () => a.user(user, fields.subscription, 60_000, src.load)),
    );
    expect(src.state.calls).toBe(1);
    expect(results.every((r) => r.n === 1)).toBe(true);
  });

  it('an entry past its TTL in Redis is a miss', async () => {
    let clock = Date.now();
    const timed = await newCache({ now: () => clock });
    const user = nextUser();
    const src = source(1);
    await timed.user(user, fields.usage('m'), 1_000, src.load);
    clock += 2_000;
    src.state.value = 2;
    expect(await timed.user(user, fields.usage('m'), 1_000, src.load)).toBe(2);
    expect(src.state.calls).toBe(2);
  });

  it('ttlFor picks the TTL from the loaded value', async () => {
    await a.global('partial', 60_000, async () => ({ complete: false }), {
      ttlFor: (value) => (value.complete ? 60_000 : 1_500),
    });
    const raw = JSON.parse((await worker.hget(globalKey(prefix, 'partial'), 'value'))!);
    expect(raw.e - Date.now()).toBeLessThanOrEqual(1_500);
  });
});

describe('invalidation', () => {
  it('invalidateUsers (from the worker) reaches every instance: next reads load the new state', async () => {
    const user = nextUser();
    const src = source('old');
    await a.user(user, fields.subscription, 60_000, src.load);
    await b.user(user, fields.subscription, 60_000, src.load);
    expect(src.state.calls).toBe(1);
    src.state.value = 'new';
    await invalidateUsers(worker, prefix, [user], 'all');
    await settle();
    expect(await a.user(user, fields.subscription, 60_000, src.load)).toBe('new');
    expect(await b.user(user, fields.subscription, 60_000, src.load)).toBe('new');
    expect(src.state.calls).toBe(2);
  });

  it('a usage invalidation drops usage figures only', async () => {
    const user = nextUser();
    const sub = source('sub');
    const usage = source(10);
    await a.user(user, fields.subscription, 60_000, sub.load);
    await a.user(user, fields.usage('compute_minutes'), 60_000, usage.load);
    usage.state.value = 11;
    await invalidateUsers(worker, prefix, [user], 'usage');
    await settle();
    expect(await a.user(user, fields.usage('compute_minutes'), 60_000, usage.load)).toBe(11);
    expect(await a.user(user, fields.subscription, 60_000, sub.load)).toBe('sub');
    expect(sub.state.calls).toBe(1);
    expect(await worker.hget(userKey(prefix, user), fields.subscription)).not.toBeNull();
  });

  it('a load that overlapped an invalidation is not written back (it may predate the commit)', async () => {
    const user = nextUser();
    const gate = deferred<string>();
    const slow = a.user(user, fields.subscription, 60_000, () => gate.promise);
    await new Promise((resolve) => setTimeout(resolve, 20)); // the reader has read Redis
    await invalidateUsers(worker, prefix, [user], 'all'); // the worker commits + invalidates
    gate.resolve('read-before-commit');
    expect(await slow).toBe('read-before-commit');
    expect(await worker.hget(userKey(prefix, user), fields.subscription)).toBeNull();
    expect(await worker.hget(userKey(prefix, user), GEN_FIELD)).not.toBeNull();
    const fresh = source('after-commit');
    expect(await a.user(user, fields.subscription, 60_000, fresh.load)).toBe('after-commit');
    expect(fresh.state.calls).toBe(1);
  });

  it('a reader arriving after the invalidation does not join the older in-flight load', async () => {
    const user = nextUser();
    const gate = deferred<string>();
    const first = a.user(user, fields.subscription, 60_000, () => gate.promise);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await a.invalidateUsers([user]);
    const second = a.user(user, fields.subscription, 60_000, async () => 'new');
    gate.resolve('old');
    expect(await first).toBe('old');
    expect(await second).toBe('new');
  });

  it('invalidateGlobals drops a global entry everywhere', async () => {
    const src = source(['plan-a']);
    await a.global('catalogue-test', 60_000, src.load);
    await b.global('catalogue-test', 60_000, src.load);
    src.state.value = ['plan-b'];
    await invalidateGlobals(worker, prefix, ['catalogue-test']);
    await settle();
    expect(await b.global('catalogue-test', 60_000, src.load)).toEqual(['plan-b']);
    expect(await a.global('catalogue-test', 60_000, src.load)).toEqual(['plan-b']);
  });
});

describe('Redis unavailable', () => {
  it('every read falls through to the loader, never fails, and is counted as degraded', async () => {
    const registry = new Registry();
    const down = await newCache({ url: 'redis://127.0.0.1:1', registry });
    const user = nextUser();
    const src = source('from-postgres');
    expect(await down.user(user, fields.subscription, 60_000, src.load)).toBe('from-postgres');
    expect(await down.user(user, fields.subscription, 60_000, src.load)).toBe('from-postgres');
    // L1 is off while the invalidation subscriber is not connected: each read loads.
    expect(src.state.calls).toBe(2);
    expect(down.l1Active).toBe(false);
    const metrics = await registry.getSingleMetricAsString('billing_cache_degraded_total');
    expect(metrics).toMatch(/op="read"\} [1-9]/);
    expect(await down.invalidateUsers([user])).toBe(false);
  });
});
