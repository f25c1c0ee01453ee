import type { Logger } from '@billing/logger';
import { defineScript, type RedisClient, runScript } from '@billing/redis';
import { AppError } from '@billing/runtime';
import type { RequestHandler } from 'express';
import { LRUCache } from 'lru-cache';
import { Counter, type Registry } from 'prom-client';
import type { AuthContext } from './context.js';

export interface RateLimitOptions {
  redis: RedisClient;
  prefix: string;
  logger: Logger;
  registry: Registry;
  windowMs: number;
  /** Requests per window by credential kind. */
  limits: Record<AuthContext['kind'], number>;
  now?: () => number;
}

export class RateLimitedError extends AppError {
  constructor(
    readonly retryAfterSeconds: number,
    limit: number,
  ) {
    super(429, 'rate_limited', `rate limit of ${limit} requests per window exceeded`, {
      retryAfterSeconds,
    });
  }
}

/**
 * Fixed window per credential: one Redis key per (credential, window), INCR and a PEXPIRE on
 * the first hit, atomically in one script. Redis down → the request is let through (counted
 * and logged): rate limiting protects the service, it must not take it down.
 */
const SCRIPT = defineScript(`
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`);

export function rateLimit(options: RateLimitOptions): RequestHandler {
  const now = options.now ?? Date.now;
  const log = options.logger.child({ module: 'rate-limit' });
  const limited = new Counter({
    name: 'api_rate_limited_total',
    help: 'Requests answered 429, by credential kind',
    labelNames: ['kind'],
    registers: [options.registry],
  });
  for (const kind of Object.keys(options.limits)) limited.inc({ kind }, 0);
  const degraded = new Counter({
    name: 'api_rate_limit_degraded_total',
    help: 'Requests let through unchecked because Redis was unavailable',
    registers: [options.registry],
  });
  let lastLog = 0;

  return async (req, res, next) => {
    const auth = req.auth;
    if (!auth) return next();
    const limit = options.limits[auth.kind];
    const at = now();
    const window = Math.floor(at / options.windowMs);
    const resetMs = (window + 1) * options.windowMs - at;
    const key = `${options.prefix}:ratelimit:${auth.credentialId}:${window}`;
    let count: number;
    try {
      count = Number(await runScript(options.redis, SCRIPT, [key], [options.windowMs * 2]));
    } catch (error) {
      degraded.inc();
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log.warn(
          { reason: (error as Error).message },
          'rate limit unavailable; letting requests through',
        );
      }
      return next();
    }
    const resetSeconds = Math.max(1, Math.ceil(resetMs / 1000));
    res.set('RateLimit-Limit', String(limit));
    res.set('RateLimit-Remaining', String(Math.max(0, limit - count)));
    res.set('RateLimit-Reset', String(resetSeconds));
    if (count > limit) {
      limited.inc({ kind: auth.kind });
      res.set('Retry-After', String(resetSeconds));
      throw new RateLimitedError(resetSeconds, limit);
    }
    return next();
  };
}

export interface AuthFailureThrottle {
  /** True when `address` has failed authentication `limit` times in the current window. */
  blocked(address: string): Promise<boolean>;
  /** Counts one failed authentication from `address`. */
  failed(address: string): Promise<void>;
  limit: number;
  windowMs: number;
}

export class AuthThrottledError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(429, 'auth_throttled', 'too many failed authentication attempts from this address', {
      retryAfterSeconds,
    });
  }
}

/**
 * Failed authentications per client address, in a fixed window in Redis (shared by every
 * instance). Past `limit`, the address gets 429 before its credential is even looked at, so
 * guessing tokens or basic-auth passwords costs one window per `limit` tries, and costs the
 * database nothing. Redis down → not throttled (as the request rate limit).
 *
 * Only an address this instance has seen fail within the window is looked up in Redis:
 * the clean traffic (every request of a client with a valid credential) costs no round trip.
 * An address failing through several instances is caught by each from its first failure
 * there, so it gets at most `limit` tries plus one per instance in a window.
 */
export function authFailureThrottle(options: {
  redis: RedisClient;
  prefix: string;
  limit: number;
  windowMs: number;
  registry: Registry;
  now?: () => number;
}): AuthFailureThrottle {
  const now = options.now ?? Date.now;
  const throttled = new Counter({
    name: 'api_auth_throttled_total',
    help: 'Requests answered 429 because their address failed authentication too often',
    registers: [options.registry],
  });
  const key = (address: string) =>
    `${options.prefix}:authfail:${address}:${Math.floor(now() / options.windowMs)}`;
  // Addresses that failed here, each kept for a window after its last failure.
  const suspects = new LRUCache<string, true>({
    max: 100_000,
    ttl: options.windowMs,
    ttlResolution: 0,
    perf: { now },
  });
  return {
    limit: options.limit,
    windowMs: options.windowMs,
    async blocked(address) {
      if (!suspects.has(address)) return false;
      try {
        const count = Number((await options.redis.get(key(address))) ?? 0);
        if (count >= options.limit) {
          throttled.inc();
          return true;
        }
      } catch {
        // Redis unavailable: authentication itself still decides.
      }
      return false;
    },
    async failed(address) {
      suspects.set(address, true);
      try {
        await runScript(options.redis, SCRIPT, [key(address)], [options.windowMs * 2]);
      } catch {
        // as above
      }
    },
  };
}
