import type { RedisClient } from '@billing/redis';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { authFailureThrottle } from './rate-limit.js';

/** A Redis stand-in that keeps the failure counters in a map and counts the commands sent. */
function fakeRedis() {
  const counts = new Map<string, number>();
  const sent: string[] = [];
  const redis = {
    async get(key: string) {
      sent.push('get');
      return counts.has(key) ? String(counts.get(key)) : null;
    },
    async evalsha(_sha: string, _keys: number, key: string) {
      sent.push('evalsha');
      counts.set(key, (counts.get(key) ?? 0) + 1);
      return counts.get(key);
    },
  };
  return { redis: redis as unknown as RedisClient, sent };
}

const throttleOn = (redis: RedisClient, now = () => 1_000_000) =>
  authFailureThrottle({
    redis,
    prefix: 'test',
    limit: 3,
    windowMs: 60_000,
    registry: new Registry(),
    now,
  });

describe('the failed-authentication throttle', () => {
  it('asks Redis nothing for an address that has not failed here (every valid request)', async () => {
    const { redis, sent } = fakeRedis();
    const throttle = throttleOn(redis);
    for (let i = 0; i < 100; i++) expect(await throttle.blocked('10.0.0.1')).toBe(false);
    expect(sent).toEqual([]);
  });

  it('blocks an address once it has failed `limit` times in the window', async () => {
    const { redis } = fakeRedis();
    const throttle = throttleOn(redis);
    const seen: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      seen.push(await throttle.blocked('10.0.0.2'));
      await throttle.failed('10.0.0.2');
    }
    expect(seen).toEqual([false, false, false, true, true]);
    expect(await throttle.blocked('10.0.0.3')).toBe(false);
  });

  it('shares the count between instances: another instance blocks the address from its own first failure on', async () => {
    const { redis } = fakeRedis();
    const a = throttleOn(redis);
    const b = throttleOn(redis);
    for (let i = 0; i < 3; i++) await a.failed('10.0.0.4');
    expect(await a.blocked('10.0.0.4')).toBe(true);
    // B has not seen this address fail: one more try is judged on its credential…
    expect(await b.blocked('10.0.0.4')).toBe(false);
    await b.failed('10.0.0.4');
    // …and from then on B reads the shared count too.
    expect(await b.blocked('10.0.0.4')).toBe(true);
  });

  it('forgets an address a window after its last failure', async () => {
    const { redis, sent } = fakeRedis();
    let clock = 1_000_000;
    const throttle = throttleOn(redis, () => clock);
    for (let i = 0; i < 3; i++) await throttle.failed('10.0.0.5');
    expect(await throttle.blocked('10.0.0.5')).toBe(true);
    clock += 60_001;
    sent.length = 0;
    expect(await throttle.blocked('10.0.0.5')).toBe(false);
    expect(sent).toEqual([]);
  });
});
