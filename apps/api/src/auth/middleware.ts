import { createHash, timingSafeEqual } from 'node:crypto';
import { apiKeys, type Database } from '@billing/db';
import type { Logger } from '@billing/logger';
import type { RedisClient } from '@billing/redis';
import { ForbiddenError, ServiceUnavailableError, UnauthorizedError } from '@billing/runtime';
import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { RequestHandler } from 'express';
import { LRUCache } from 'lru-cache';
import { hashApiKey, revocationChannel } from './api-keys.js';
import type { AuthContext } from './context.js';
import { type AuthFailureThrottle, AuthThrottledError } from './rate-limit.js';

export interface AuthOptions {
  db: Database;
  logger: Logger;
  serviceToken: string;
  opsToken?: string;
  /** How long a looked-up API key (or its absence) is trusted in process. Revocation latency. */
  keyCacheTtlMs?: number;
  /**
   * A subscriber connection (REDIS_PREFIX = `prefix`): announced revocations drop the key
   * from the in-process cache at once (revokeApiKey publishes them).
   */
  revocations?: { subscriber: RedisClient; prefix: string };
  /** Failed attempts per client address; past the limit, 429 without looking further. */
  throttle?: AuthFailureThrottle;
  now?: () => number;
}

/** The shape of every key createApiKey issues; anything else is refused without a query. */
const API_KEY_SHAPE = /^bk_[A-Za-z0-9_-]{43}$/;

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time equality of a presented token with a configured one (lengths hidden by hashing). */
function sameSecret(presented: Buffer, expected: Buffer | undefined): boolean {
  return expected !== undefined && timingSafeEqual(presented, expected);
}

function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i.exec(header);
  return match?.[1];
}

type KeyLookup = { context: AuthContext } | { context: null };

/**
 * `Authorization: Bearer <token>` → `req.auth`:
 * 1. BILLING_SERVICE_TOKEN (constant-time) → `service`, may act for any user;
 * 2. OPS_TOKEN (constant-time) → `ops`, ops surfaces only;
 * 3. otherwise an API key from `api_keys` by SHA-256: scope `service` → `service`,
 *    scope `user` → `user` bound to its user. Revoked or unknown → 401.
 * Lookups are cached in process for `keyCacheTtlMs` (default 30 s), bounding how long a
 * revoked key keeps working; `last_used_at` is written at most once a minute per key, off
 * the request path.
 */
export function authenticate(options: AuthOptions): RequestHandler {
  const service = digest(options.serviceToken);
  const ops = options.opsToken ? digest(options.opsToken) : undefined;
  const log = options.logger.child({ module: 'auth' });
  const now = options.now ?? Date.now;
  const keys = new LRUCache<string, KeyLookup>({
    max: 10_000,
    ttl: options.keyCacheTtlMs ?? 30_000,
  });
  const lastTouched = new LRUCache<string, number>({ max: 10_000 });
  if (options.revocations) {
    const channel = revocationChannel(options.revocations.prefix);
    const subscriber = options.revocations.subscriber;
    subscriber.on('message', (from: string, hash: string) => {
      if (from === channel) keys.delete(hash);
    });
    // Connections of the cache role do not queue commands while connecting: subscribe once
    // ready (ioredis re-subscribes by itself after a reconnect).
    const subscribe = () =>
      subscriber.subscribe(channel).catch((error: Error) => {
        log.warn(
          { reason: error.message },
          'revocation subscriber failed; revocations wait for the key cache TTL',
        );
      });
    if (subscriber.status === 'ready') void subscribe();
    else subscriber.once('ready', () => void subscribe());
  }

  const lookup = async (hash: string): Promise<KeyLookup> => {
    const cached = keys.get(hash);
    if (cached) return cached;
    let rows: {
      id: string;
      scope: 'user' | 'service';
      userId: string | null;
      expiresAt: Date | string | null;
    }[];
    try {
      rows = await options.db
        .select({
          id: apiKeys.id,
          scope: apiKeys.scope,
          userId: apiKeys.userId,
          expiresAt: apiKeys.expiresAt,
        })
        .from(apiKeys)
        .where(
          and(
            eq(apiKeys.keyHash, hash),
            isNull(apiKeys.revokedAt),
            or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, sql`now()`)),
          ),
        )
        .limit(1);
    } catch (error) {
      log.error({ reason: (error as Error).message }, 'api key lookup failed');
      throw new ServiceUnavailableError('auth_unavailable', 'cannot verify credentials right now');
    }
    const row = rows[0];
    let result: KeyLookup = { context: null };
    if (row?.scope === 'service')
      result = { context: { kind: 'service', credentialId: `key:${row.id}` } };
    else if (row?.scope === 'user' && row.userId) {
      result = { context: { kind: 'user', credentialId: `key:${row.id}`, userId: row.userId } };
    }
    // An expiring key is trusted in process no longer than it lives.
    const expiresIn = row?.expiresAt ? new Date(row.expiresAt).getTime() - Date.now() : undefined;
    keys.set(hash, result, expiresIn !== undefined ? { ttl: Math.max(1, expiresIn) } : undefined);
    return result;
  };

  const touch = (id: string) => {
    const at = now();
    if ((lastTouched.get(id) ?? 0) > at - 60_000) return;
    lastTouched.set(id, at);
    options.db
      .update(apiKeys)
      .set({ lastUsedAt: sql`now()` })
      .where(eq(apiKeys.id, id))
      .catch((error: Error) => log.warn({ reason: error.message }, 'could not record key use'));
  };

  const address = (req: { ip?: string | undefined }) => req.ip ?? 'unknown';
  return async (req, res, next) => {
    const throttle = options.throttle;
    if (throttle && (await throttle.blocked(address(req)))) {
      const retryAfter = Math.max(1, Math.ceil(throttle.windowMs / 1000));
      res.set('Retry-After', String(retryAfter));
      throw new AuthThrottledError(retryAfter);
    }
    const token = bearerToken(req.headers.authorization);
    if (!token) {
      res.set('WWW-Authenticate', 'Bearer');
      await throttle?.failed(address(req));
      throw new UnauthorizedError('missing bearer token');
    }
    const presented = digest(token);
    if (sameSecret(presented, service)) {
      req.auth = { kind: 'service', credentialId: 'service-token' };
      return next();
    }
    if (sameSecret(presented, ops)) {
      req.auth = { kind: 'ops', credentialId: 'ops-token' };
      return next();
    }
    // Not shaped like an issued key: no key can match, so no query (random tokens cost nothing).
    const found = API_KEY_SHAPE.test(token) ? await lookup(hashApiKey(token)) : { context: null };
    if (!found.context) {
      await throttle?.failed(address(req));
      res.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw new UnauthorizedError('invalid or revoked token');
    }
    req.auth = found.context;
    touch(found.context.credentialId.slice('key:'.length));
    return next();
  };
}

/**
 * Ops surfaces (every `/api/ops/*` and `/ops/*` route, like `/ops/queues`): OPS_TOKEN or
 * BILLING_SERVICE_TOKEN itself, nothing else. A service-scope API key acts for users (the
 * SaaS backend's key) and is refused here like a user key, so the same credential gets the
 * same answer on every ops surface.
 */
export const isOpsCredential = (auth: AuthContext | undefined): boolean =>
  auth?.kind === 'ops' || (auth?.kind === 'service' && auth.credentialId === 'service-token');

export const requireOps: RequestHandler = (req, _res, next) => {
  if (!isOpsCredential(req.auth)) {
    throw new ForbiddenError(
      'ops routes need BILLING_SERVICE_TOKEN or OPS_TOKEN; API keys are refused',
    );
  }
  next();
};
