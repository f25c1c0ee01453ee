import type { Sql } from '@billing/db';
import type { Logger } from '@billing/logger';
import type { RedisClient } from '@billing/redis';
import { BadRequestError, ServiceUnavailableError, UnauthorizedError } from '@billing/runtime';
import {
  defaultUsageConfig,
  ingestUsage,
  type UsageConfig,
  type UsageLimiter,
  UsageLimiterUnavailableError,
} from '@billing/usage';
import express, { type RequestHandler, type Router } from 'express';
import { actingUserId } from '../auth/context.js';

/** Most records one POST may carry. */
export const MAX_USAGE_BATCH = 1_000;

export interface UsageRouterDeps {
  sql: Sql;
  redis: RedisClient;
  /** REDIS_PREFIX: the limit counters live under it. */
  prefix: string;
  logger: Logger;
  /** Known metric names: the keys of the plan list's limits. */
  metrics: string[];
  /** The user's plan and its included units per metric (a metric not listed is not included). */
  resolvePlanLimits(userId: string): Promise<{ planId: string; limits: Record<string, number> }>;
  /** Drops the users' cached usage (after their records were stored). */
  invalidateUsage(userIds: string[]): Promise<void>;
  /** USAGE_* settings; defaults to the process environment's. */
  config?: UsageConfig;
  /** Parses the JSON body; omit when the app already parsed it. Allow ~1 MB for 1,000 records. */
  jsonBody?: RequestHandler;
  now?: () => Date;
}

const OPTION_NAMES = ['atomic', 'enforceLimit'] as const;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const badBody = (code: string, field: string, message: string) =>
  new BadRequestError(code, `body ${field}: ${message}`, { field, source: 'body' });

/**
 * `POST /api/usage`: body `{ records: [...], atomic?, enforceLimit? }` or one record
 * `{ userId, metric, quantity, occurredAt, idempotencyKey, correctsKey?, atomic?, enforceLimit? }`.
 * Answers 200 `{ accepted, duplicates, rejected: [{ index, error }] }` whenever the request
 * itself is well-formed, also when records were rejected. `atomic` (default false): true
 * stores all records or none. `enforceLimit` (default false): records that would take the
 * user over the plan limit are rejected with `limit_exceeded`.
 * A user key may only write its own user's records (a record without `userId` is its user's;
 * one naming another user makes the whole request 403); the service token names the user
 * in every record.
 */
export function usageRouter(deps: UsageRouterDeps): Router {
  const router = express.Router();
  const config = deps.config ?? defaultUsageConfig();
  const now = deps.now ?? (() => new Date());
  const log = deps.logger.child({ module: 'usage-route' });
  const parse: RequestHandler[] = deps.jsonBody ? [deps.jsonBody] : [];

  router.post('/', ...parse, async (req, res) => {
    const auth = req.auth;
    if (!auth) throw new UnauthorizedError();
    const body: unknown = req.body;
    if (!isPlainObject(body)) throw badBody('invalid_body', 'body', 'must be a JSON object');

    const options: Record<(typeof OPTION_NAMES)[number], boolean> = {
      atomic: false,
      enforceLimit: false,
    };
    for (const name of OPTION_NAMES) {
      const value = body[name];
      if (value === undefined) continue;
      if (typeof value !== 'boolean') throw badBody('invalid_field', name, 'must be true or false');
      options[name] = value;
    }

    let raw: unknown[];
    if ('records' in body) {
      if (!Array.isArray(body.records))
        throw badBody('invalid_field', 'records', 'must be an array of records');
      if (body.records.length === 0)
        throw badBody('empty_batch', 'records', 'must contain at least one record');
      if (body.records.length > MAX_USAGE_BATCH) {
        throw badBody(
          'too_many_records',
          'records',
          `at most ${MAX_USAGE_BATCH} records per request`,
        );
      }
      raw = body.records;
    } else {
      const { atomic: _atomic, enforceLimit: _enforce, ...single } = body;
      raw = [single];
    }

    // A user key writes for its own user only (403 for anyone else); the service token must
    // name the user in each record (a record without one is rejected as missing_user_id).
    const records =
      auth.kind === 'service'
        ? raw
        : raw.map((record) => {
            if (!isPlainObject(record)) return record;
            const requested =
              record.userId === undefined || record.userId === null ? undefined : record.userId;
            return { ...record, userId: actingUserId(req, requested as string | undefined) };
          });

    const plans = new Map<string, Promise<{ planId: string; limits: Record<string, number> }>>();
    const limiter: UsageLimiter = {
      redis: deps.redis,
      prefix: deps.prefix,
      limitOf: async (userId, metric) => {
        let plan = plans.get(userId);
        if (!plan) {
          plan = deps.resolvePlanLimits(userId);
          plans.set(userId, plan);
        }
        return (await plan).limits[metric] ?? 0;
      },
    };

    let result: Awaited<ReturnType<typeof ingestUsage>>;
    try {
      result = await ingestUsage(deps.sql, records, {
        atomic: options.atomic,
        enforceLimit: options.enforceLimit,
        limiter,
        metrics: deps.metrics,
        now: now(),
        config,
      });
    } catch (error) {
      if (error instanceof UsageLimiterUnavailableError) {
        log.error({ err: error }, 'usage limit check unavailable');
        throw new ServiceUnavailableError(
          'usage_limiter_unavailable',
          'the usage limit check is unavailable; retry',
        );
      }
      throw error;
    }

    if (result.affectedUserIds.length > 0) {
      if (result.affectedUserIds.length === 1) res.locals.userId = result.affectedUserIds[0];
      try {
        await deps.invalidateUsage(result.affectedUserIds);
      } catch (error) {
        // The records are stored; answering an error would only make the client retry into
        // duplicates. The cached figure is stale for at most its TTL.
        log.error(
          { err: error, users: result.affectedUserIds.length },
          'usage cache invalidation failed',
        );
      }
    }
    res.set('Cache-Control', 'no-store');
    res.json({
      accepted: result.accepted,
      duplicates: result.duplicates,
      rejected: result.rejected,
    });
  });

  return router;
}
