import type { Sql } from '@billing/db';
import { defineScript, runScript } from '@billing/redis';
import type { Cluster, Redis } from 'ioredis';
import { UsageLimiterUnavailableError } from './errors.js';
import { usedInPeriod } from './snapshot.js';

export type RedisLike = Redis | Cluster;

/**
 * The Redis side of "may this user use more": one counter per (user, metric, period) under
 * REDIS_PREFIX holding the units reserved so far. Postgres stays the source of truth: a
 * missing counter is seeded from the exact Postgres figure, and drift between the two is
 * measured (`measureDrift`) and exported as a gauge.
 */
export interface UsageLimiter {
  redis: RedisLike;
  prefix: string;
  /** The user's included units of `metric`; a metric the plan does not list is not included (0). */
  limitOf(userId: string, metric: string): Promise<number>;
}

const KEY_SPACE = 'usage:limit';

/** `<prefix>:usage:limit:<metric>:<periodStartMs>:<userId>` (user last: it may contain colons). */
export const limitKey = (prefix: string, userId: string, metric: string, periodStart: Date) =>
  `${prefix}:${KEY_SPACE}:${metric}:${periodStart.getTime()}:${userId}`;

export function parseLimitKey(
  prefix: string,
  key: string,
): { userId: string; metric: string; periodStart: Date } | undefined {
  const head = `${prefix}:${KEY_SPACE}:`;
  if (!key.startsWith(head)) return undefined;
  const rest = key.slice(head.length);
  const match = /^([a-z][a-z0-9_]*):(-?\d+):(.+)$/.exec(rest);
  if (!match) return undefined;
  return { metric: match[1]!, periodStart: new Date(Number(match[2])), userId: match[3]! };
}

/**
 * Check-and-reserve, atomically (Redis runs a script without interleaving):
 * KEYS[1] counter; ARGV[1] limit; ARGV[2] TTL in ms (used when seeding); ARGV[3] seed value,
 * or '' to only proceed if the counter exists; ARGV[4..] quantities to reserve, in order.
 * Returns {0} when the counter is missing and no seed was given (the caller reads Postgres
 * and calls again with the seed; if another caller seeded meanwhile, its value wins), else
 * {1, admitted_1, admitted_2, …} where each admitted is 1 or 0. A quantity is admitted only
 * if the counter plus it stays within the limit; admitted quantities are added.
 */
const RESERVE = defineScript(`
local current = redis.call('GET', KEYS[1])
if not current then
  if ARGV[3] == '' then return {0} end
  current = ARGV[3]
  redis.call('SET', KEYS[1], current, 'PX', ARGV[2])
end
local start = tonumber(current)
local total = start
local limit = tonumber(ARGV[1])
local result = {1}
for i = 4, #ARGV do
  local q = tonumber(ARGV[i])
  if total + q <= limit then
    total = total + q
    result[#result + 1] = 1
  else
    result[#result + 1] = 0
  end
end
if total ~= start then redis.call('INCRBY', KEYS[1], string.format('%d', total - start)) end
return result
`);

/** Adds ARGV[1] (may be negative) to an existing counter; a missing counter stays missing. */
const ADJUST_IF_PRESENT = defineScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return false
`);

/** TTL of a counter: until its period has ended and late records can no longer land in it. */
export function counterTtlMs(periodEnd: Date, now: Date, lateGraceMs: number): number {
  return Math.max(periodEnd.getTime() + lateGraceMs + 3600_000 - now.getTime(), 60_000);
}

export interface ReserveRequest {
  userId: string;
  metric: string;
  periodStart: Date;
  periodEnd: Date;
  limit: number;
  quantities: number[];
}

/**
 * Reserves `quantities` (each all or nothing, in order) against one counter, seeding it from
 * Postgres when missing. Returns which quantities were admitted.
 */
export async function reserve(
  sql: Sql,
  limiter: UsageLimiter,
  request: ReserveRequest,
  options: { now: Date; lateGraceMs: number },
): Promise<boolean[]> {
  const key = limitKey(limiter.prefix, request.userId, request.metric, request.periodStart);
  const ttl = String(counterTtlMs(request.periodEnd, options.now, options.lateGraceMs));
  const args = [String(request.limit), ttl];
  const quantities = request.quantities.map(String);
  const run = async (seed: string) => {
    try {
      return (await runScript(
        limiter.redis,
        RESERVE,
        [key],
        [...args, seed, ...quantities],
      )) as number[];
    } catch (error) {
      throw new UsageLimiterUnavailableError(error);
    }
  };
  let result = await run('');
  if (result[0] === 0) {
    const seed = await usedInPeriod(sql, request.userId, request.metric, request.periodStart);
    result = await run(String(seed));
  }
  return result.slice(1).map((admitted) => admitted === 1);
}

/**
 * Adds `delta` to a counter if it exists: releases a reservation (negative) whose record was
 * not stored, or accounts for a record stored without a reservation (enforceLimit off, or a
 * correction) so the counter keeps following Postgres.
 */
export async function adjustCounter(
  limiter: Pick<UsageLimiter, 'redis' | 'prefix'>,
  userId: string,
  metric: string,
  periodStart: Date,
  delta: number,
): Promise<void> {
  if (delta === 0) return;
  const key = limitKey(limiter.prefix, userId, metric, periodStart);
  await runScript(limiter.redis, ADJUST_IF_PRESENT, [key], [String(delta)]);
}

export interface DriftSample {
  userId: string;
  metric: string;
  periodStart: Date;
  /** The Redis counter, or null when there is none (nothing to drift). */
  redis: number | null;
  /** The exact figure in Postgres. */
  postgres: number;
  /** redis − postgres; positive = Redis is stricter than needed, negative = more lenient. */
  drift: number | null;
}

/**
 * Drift of one counter. Reservations of batches still in flight show up as a small
 * transient positive drift; anything that persists is a bug or a lost release.
 */
export async function measureDrift(
  sql: Sql,
  limiter: Pick<UsageLimiter, 'redis' | 'prefix'>,
  target: { userId: string; metric: string; periodStart: Date },
): Promise<DriftSample> {
  const raw = await limiter.redis.get(
    limitKey(limiter.prefix, target.userId, target.metric, target.periodStart),
  );
  const postgres = await usedInPeriod(sql, target.userId, target.metric, target.periodStart);
  const redis = raw === null ? null : Number(raw);
  return { ...target, redis, postgres, drift: redis === null ? null : redis - postgres };
}

async function scanKeys(redis: RedisLike, pattern: string, max: number): Promise<string[]> {
  const nodes: Redis[] =
    'nodes' in redis && typeof redis.nodes === 'function' && (redis as Cluster).isCluster
      ? (redis as Cluster).nodes('master')
      : [redis as Redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0' && keys.length < max);
    if (keys.length >= max) break;
  }
  return keys.slice(0, max);
}

const escapeGlob = (value: string) => value.replace(/[*?[\]\\]/g, '\\$&');

/** Drift of every counter under the prefix (up to `maxKeys`). */
export async function measureAllDrift(
  sql: Sql,
  limiter: Pick<UsageLimiter, 'redis' | 'prefix'>,
  options: { maxKeys?: number } = {},
): Promise<DriftSample[]> {
  const keys = await scanKeys(
    limiter.redis,
    `${escapeGlob(limiter.prefix)}:${KEY_SPACE}:*`,
    options.maxKeys ?? 10_000,
  );
  const samples: DriftSample[] = [];
  for (const key of keys) {
    const target = parseLimitKey(limiter.prefix, key);
    if (target) samples.push(await measureDrift(sql, limiter, target));
  }
  return samples;
}
