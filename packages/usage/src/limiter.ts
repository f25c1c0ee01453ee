import { randomBytes } from 'node:crypto';
import type { Sql } from '@billing/db';
import { defineScript, runScript } from '@billing/redis';
import type { Cluster, Redis } from 'ioredis';
import { UsageLimiterUnavailableError } from './errors.js';
import { usedInPeriodAt } from './snapshot.js';

export type RedisLike = Redis | Cluster;

/**
 * The Redis side of "may this user use more": one counter per (user, metric, period) under
 * REDIS_PREFIX. Postgres stays the source of truth, and the counter is exact.
 *
 * A counter is a hash: `n` the units counted, `v` its version (a fresh id per seed), `s` the
 * Postgres snapshot the seed's total was read in (`pg_current_snapshot()` in the same
 * statement: "the total as of a known point"), and `r:<id>` for every reservation made and
 * not settled yet ("units:reserved-at-ms"). While a seed is being taken, `w` holds the
 * version it will get and `p:<txid>` the units of every write that settled meanwhile.
 *
 * So `n` = the seed's total + the rows committed after its snapshot and settled + the live
 * reservations. Every usage write, enforced or not, follows one rule, so a committed row is
 * counted once:
 * - before its insert, an enforced write reserves its units (added to `n`, recorded in
 *   `r:<id>`; a counter without a seed is seeded first);
 * - after its commit (or its failure), every write settles with its rows' transaction id: its
 *   reservation, if still recorded, leaves `n`, and its stored units join `n` unless the
 *   seed's snapshot saw their transaction (then they are in the total). While a seed is in
 *   progress the write is also noted in `p:<txid>`; a counter that does not exist is left alone.
 * A seed is two steps: (1) announce it (`w`), (2) read Postgres, then complete it only if `w`
 * is still the one announced: `n` = the total + the noted writes the snapshot did not see +
 * the live reservations. A row committed before the snapshot is in the total and never
 * added; one committed after it settles after step 1, so it is noted or added by its settle.
 * A reservation in flight during a re-seed stays in `n`, so a re-seed never frees units that
 * are already promised. Nothing depends on which of them reaches Redis first.
 *
 * The drift check (`correctDrift`) re-seeds, the same two steps, a counter that disagrees with
 * Postgres twice in a row under one version. A re-seed drops reservations older than
 * RESERVATION_MAX_AGE_MS: their write died between reserving and settling (a lost settle).
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
 * KEYS[1] counter; ARGV[1] limit; ARGV[2] reservation id; ARGV[3..] quantities to reserve,
 * in order. Returns {0} when the counter has no seed yet (the caller seeds it and calls
 * again), else {1, version, admitted_1, admitted_2, …} where each admitted is 1 or 0. A
 * quantity is admitted only if the counter plus it stays within the limit; admitted
 * quantities are added to `n` and recorded under `r:<id>`.
 */
const RESERVE = defineScript(`
local cur = redis.call('HMGET', KEYS[1], 'n', 'v')
if not cur[1] then return {0} end
local start = tonumber(cur[1])
local total = start
local limit = tonumber(ARGV[1])
local result = {1, cur[2]}
for i = 3, #ARGV do
  local q = tonumber(ARGV[i])
  if total + q <= limit then
    total = total + q
    result[#result + 1] = 1
  else
    result[#result + 1] = 0
  end
end
if total ~= start then
  local held = string.format('%d', total - start)
  local now = redis.call('TIME')
  redis.call('HINCRBY', KEYS[1], 'n', held)
  redis.call('HSET', KEYS[1], 'r:' .. ARGV[2], held .. ':' .. now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000)))
end
return result
`);

/**
 * Whether a transaction id (decimal text) is visible in a pg_snapshot's text form
 * "xmin:xmax:xip,…": below xmin, or below xmax and not in progress. xid8 values are compared
 * as decimal strings (shorter is smaller), never as Lua doubles.
 */
const VISIBLE_LUA = `
local function lt(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function visible(x, snap)
  local xmin, xmax, xip = string.match(snap, '^(%d+):(%d+):(.*)$')
  if not xmin then return false end
  if lt(x, xmin) then return true end
  if not lt(x, xmax) then return false end
  for id in string.gmatch(xip, '%d+') do
    if id == x then return false end
  end
  return true
end
`;

/**
 * Seed step 1: KEYS[1]; ARGV[1] a new version; ARGV[2] TTL in ms for a counter that does
 * not exist yet (short: a seeder that dies leaves nothing for long); ARGV[3] '1' to seed
 * only a counter that has no seed yet. Joins a seed already in progress. Returns the version
 * of the seed in progress, or '' when ARGV[3] is '1' and the counter is already seeded.
 *
 * Why the reserve path passes '1': between its RESERVE finding no counter and this call,
 * another caller may have seeded the counter and reserved on it. Re-seeding then would read
 * a Postgres total without that reservation (its rows are not committed yet) and drop it
 * from `n`: for a moment the counter would admit units that are already promised.
 */
const BEGIN_SEED = defineScript(`
if ARGV[3] == '1' and redis.call('HEXISTS', KEYS[1], 'n') == 1 then return '' end
local w = redis.call('HGET', KEYS[1], 'w')
if w then return w end
local fresh = redis.call('EXISTS', KEYS[1]) == 0
redis.call('HSET', KEYS[1], 'w', ARGV[1])
if fresh then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return ARGV[1]
`);

/**
 * Seed step 2: KEYS[1]; ARGV[1] the version announced; ARGV[2] the Postgres total; ARGV[3]
 * its snapshot; ARGV[4] TTL in ms, or '' to keep the current one; ARGV[5] the oldest
 * reservation time (ms) still counted. Completes only if that seed is still the one in
 * progress (0 otherwise: someone else completed it, or it expired): `n` = the total + the
 * noted writes the snapshot did not see + the live reservations; older reservations go.
 */
const COMPLETE_SEED = defineScript(`${VISIBLE_LUA}
if redis.call('HGET', KEYS[1], 'w') ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
local oldest = tonumber(ARGV[5])
local fields = redis.call('HKEYS', KEYS[1])
for _, field in ipairs(fields) do
  local kind = string.sub(field, 1, 2)
  if kind == 'p:' then
    if not visible(string.sub(field, 3), ARGV[3]) then
      n = n + tonumber(redis.call('HGET', KEYS[1], field))
    end
    redis.call('HDEL', KEYS[1], field)
  elseif kind == 'r:' then
    local units, at = string.match(redis.call('HGET', KEYS[1], field), '^(%d+):(%d+)$')
    if units and tonumber(at) >= oldest then
      n = n + tonumber(units)
    else
      redis.call('HDEL', KEYS[1], field)
    end
  end
end
redis.call('HDEL', KEYS[1], 'w')
redis.call('HSET', KEYS[1], 'n', string.format('%d', n), 'v', ARGV[1], 's', ARGV[3])
if ARGV[4] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1
`);

/**
 * After a write's commit (or its failure): KEYS[1] counter; ARGV[1] its reservation id on
 * this counter, or ''; ARGV[2] its rows' transaction id, or '' when nothing was stored;
 * ARGV[3] units stored. The reservation, if still recorded, leaves `n` (whatever seed it was
 * made under: re-seeds carry it); the stored units join `n` unless the seed's snapshot saw
 * the transaction. A seed in progress notes the stored units under the transaction id.
 * Returns the change to `n`.
 */
const SETTLE = defineScript(`${VISIBLE_LUA}
local cur = redis.call('HMGET', KEYS[1], 'n', 's', 'w')
if cur[3] and ARGV[2] ~= '' and ARGV[3] ~= '0' then
  redis.call('HINCRBY', KEYS[1], 'p:' .. ARGV[2], ARGV[3])
end
if not cur[1] then return 0 end
local delta = 0
if ARGV[2] ~= '' and not visible(ARGV[2], cur[2] or '') then delta = tonumber(ARGV[3]) end
if ARGV[1] ~= '' then
  local held = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
  if held then
    delta = delta - tonumber(string.match(held, '^(%d+)'))
    redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])
  end
end
if delta ~= 0 then redis.call('HINCRBY', KEYS[1], 'n', string.format('%d', delta)) end
return delta
`);

const newVersion = () => randomBytes(6).toString('base64url');
const newReservationId = () => randomBytes(9).toString('base64url');

/** How long an announced seed of a new counter may take before it is abandoned. */
const SEED_TTL_MS = 60_000;

/**
 * A reservation older than this when a re-seed runs belongs to a write that died before its
 * settle: the re-seed drops it. Far above any write's reserve → commit → settle (the API's
 * request timeout and Postgres' statement timeout end a write long before).
 */
export const RESERVATION_MAX_AGE_MS = 5 * 60_000;
/**
 * Seeds (or, with `reseed`, re-seeds) one counter from Postgres in the two steps above.
 * Returns false when the seed was completed by someone else, abandoned, or (without
 * `reseed`) not needed because the counter has a seed by now: the caller reads it again.
 */
async function seedCounter(
  sql: Sql,
  redis: RedisLike,
  key: string,
  target: { userId: string; metric: string; periodStart: Date },
  ttlMs: number | undefined,
  reseed: boolean,
): Promise<boolean> {
  const version = String(
    await runScript(
      redis,
      BEGIN_SEED,
      [key],
      [newVersion(), String(SEED_TTL_MS), reseed ? '0' : '1'],
    ),
  );
  if (version === '') return false;
  const seed = await usedInPeriodAt(sql, target.userId, target.metric, target.periodStart);
  const done = await runScript(
    redis,
    COMPLETE_SEED,
    [key],
    [
      version,
      String(seed.used),
      seed.snapshot,
      ttlMs === undefined ? '' : String(ttlMs),
      String(Date.now() - RESERVATION_MAX_AGE_MS),
    ],
  );
  return Number(done) === 1;
}

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

export interface ReserveResult {
  /** Which quantities were admitted (and added to the counter). */
  admitted: boolean[];
  /** The reservation's id on the counter: its settle names it. */
  reservation: string;
}

/**
 * Reserves `quantities` (each all or nothing, in order) against one counter, seeding it from
 * Postgres when it has no seed yet.
 */
export async function reserve(
  sql: Sql,
  limiter: UsageLimiter,
  request: ReserveRequest,
  options: { now: Date; lateGraceMs: number },
): Promise<ReserveResult> {
  const key = limitKey(limiter.prefix, request.userId, request.metric, request.periodStart);
  const ttl = counterTtlMs(request.periodEnd, options.now, options.lateGraceMs);
  const reservation = newReservationId();
  const args = [String(request.limit), reservation, ...request.quantities.map(String)];
  // A few rounds at most: a round that finds no seed seeds the counter (or joins a seed in
  // progress that another caller then completes) and reads it again.
  for (let round = 0; round < 5; round++) {
    let result: (number | string)[];
    try {
      result = (await runScript(limiter.redis, RESERVE, [key], args)) as (number | string)[];
    } catch (error) {
      throw new UsageLimiterUnavailableError(error);
    }
    if (result[0] === 0) {
      await seedCounter(sql, limiter.redis, key, request, ttl, false);
      continue;
    }
    return { reservation, admitted: result.slice(2).map((admitted) => admitted === 1) };
  }
  throw new UsageLimiterUnavailableError(new Error(`counter ${key} could not be seeded`));
}

export interface Settlement {
  userId: string;
  metric: string;
  periodStart: Date;
  /** The reservation's id; undefined when the write reserved nothing on this counter. */
  reservation?: string;
  /** Transaction id of the write's stored rows; undefined when it stored none. */
  txid?: string;
  stored: number;
  reserved: number;
}

/** Settles one write on one counter (see UsageLimiter). Returns the units added. */
export async function settleCounter(
  limiter: Pick<UsageLimiter, 'redis' | 'prefix'>,
  settlement: Settlement,
): Promise<number> {
  const { userId, metric, periodStart, reservation, txid, stored, reserved } = settlement;
  if (stored === 0 && (reserved === 0 || reservation === undefined)) return 0;
  const key = limitKey(limiter.prefix, userId, metric, periodStart);
  return Number(
    await runScript(
      limiter.redis,
      SETTLE,
      [key],
      [reserved > 0 ? (reservation ?? '') : '', txid ?? '', String(stored)],
    ),
  );
}

/** The counted units of a counter, or null when there is none. */
export async function limitCounterValue(
  limiter: Pick<UsageLimiter, 'redis' | 'prefix'>,
  target: { userId: string; metric: string; periodStart: Date },
): Promise<number | null> {
  const raw = await limiter.redis.hget(
    limitKey(limiter.prefix, target.userId, target.metric, target.periodStart),
    'n',
  );
  return raw === null ? null : Number(raw);
}

export interface DriftSample {
  userId: string;
  metric: string;
  periodStart: Date;
  /** The Redis counter, or null when there is none (nothing to drift). */
  redis: number | null;
  /** The counter's version when it was read. */
  version: string | null;
  /** The exact figure in Postgres, and the snapshot it was read in. */
  postgres: number;
  snapshot: string;
  /** redis − postgres; positive = Redis is stricter than needed, negative = more lenient. */
  drift: number | null;
}

/**
 * Drift of one counter. Reservations of batches still in flight show up as a small
 * transient positive drift; anything that persists is a bug, a lost settle or a counter
 * changed behind the limiter's back.
 */
export async function measureDrift(
  sql: Sql,
  limiter: Pick<UsageLimiter, 'redis' | 'prefix'>,
  target: { userId: string; metric: string; periodStart: Date },
): Promise<DriftSample> {
  const [raw, version] = await limiter.redis.hmget(
    limitKey(limiter.prefix, target.userId, target.metric, target.periodStart),
    'n',
    'v',
  );
  const pg = await usedInPeriodAt(sql, target.userId, target.metric, target.periodStart);
  const redis = raw === null || raw === undefined ? null : Number(raw);
  return {
    ...target,
    redis,
    version: version ?? null,
    postgres: pg.used,
    snapshot: pg.snapshot,
    drift: redis === null ? null : redis - pg.used,
  };
}

export interface DriftCorrection {
  sample: DriftSample;
  /** Whether the counter was re-seeded (false: it changed version meanwhile, nothing to do). */
  corrected: boolean;
}

/**
 * Corrects counters that drift: each drifting sample is measured again after `confirmMs`
 * (in-flight reservations settle within milliseconds), and a counter still drifting under the
 * same version is re-seeded from Postgres. The re-seed is exact whatever is in flight: live
 * reservations stay counted and leave with their settle, and writes settle against the new
 * snapshot. Returns what was found drifting twice.
 */
export async function correctDrift(
  sql: Sql,
  limiter: Pick<UsageLimiter, 'redis' | 'prefix'>,
  samples: readonly DriftSample[],
  options: { confirmMs?: number } = {},
): Promise<DriftCorrection[]> {
  const drifting = samples.filter((s) => s.drift !== null && s.drift !== 0);
  if (drifting.length === 0) return [];
  if (options.confirmMs ?? 1_000) await sleep(options.confirmMs ?? 1_000);
  const corrections: DriftCorrection[] = [];
  for (const first of drifting) {
    const again = await measureDrift(sql, limiter, first);
    if (again.drift === null || again.drift === 0 || again.version !== first.version) continue;
    const replaced = await seedCounter(
      sql,
      limiter.redis,
      limitKey(limiter.prefix, again.userId, again.metric, again.periodStart),
      again,
      undefined,
      true,
    );
    corrections.push({ sample: again, corrected: replaced });
  }
  return corrections;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
