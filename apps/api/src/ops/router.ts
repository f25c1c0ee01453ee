import type { Database, Sql } from '@billing/db';
import {
  DeadLetterNotFoundError,
  dbReport,
  listCursors,
  listDeadLetters,
  type OpsCredentials,
  type ReplaySelector,
  replayDeadLetters,
} from '@billing/ops';
import { NotFoundError } from '@billing/runtime';
import type { Queue } from 'bullmq';
import express, { type Router } from 'express';
import { z } from 'zod';
import { fieldError, parseInput } from '../http/validation.js';
import { requireOpsToken } from './auth.js';

export interface OpsRouterDeps {
  db: Database;
  sql: Sql;
  /** The `stripe-events` queue (its failed set is the queue side of the dead letters). */
  stripeEventsQueue: Queue;
  credentials: OpsCredentials;
}

const eventType = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .regex(/^[a-z0-9_.]+$/, 'must be a Stripe event type such as invoice.paid');

/** An ISO 8601 date/time or unix seconds. */
const instant = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const text = String(value).trim();
  const date = /^\d{1,12}$/.test(text)
    ? new Date(Number(text) * 1000)
    : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)
      ? new Date(text)
      : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 time or unix seconds' });
    return z.NEVER;
  }
  return date;
});

const listQuery = z.strictObject({
  type: eventType.optional(),
  from: instant.optional(),
  to: instant.optional(),
  limit: z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(1000, 'must be at most 1000'))
    .optional(),
});

const replayBody = z.strictObject({
  eventId: z
    .string()
    .min(1, 'must not be empty')
    .max(255, 'must be at most 255 characters')
    .optional(),
  all: z.literal(true, 'must be true (to replay every dead letter)').optional(),
  type: eventType.optional(),
  from: instant.optional(),
  to: instant.optional(),
});

/** Exactly one of: an event id, a filter (type/from/to), or `all: true`. */
function replaySelector(body: z.infer<typeof replayBody>): ReplaySelector {
  const filter = body.type !== undefined || body.from !== undefined || body.to !== undefined;
  if (body.eventId !== undefined) {
    if (body.all) throw fieldError('all', 'cannot be combined with eventId');
    if (filter)
      throw fieldError(
        body.type ? 'type' : body.from ? 'from' : 'to',
        'cannot be combined with eventId',
      );
    return { eventId: body.eventId };
  }
  if (body.all) {
    if (filter)
      throw fieldError(
        body.type ? 'type' : body.from ? 'from' : 'to',
        'cannot be combined with all',
      );
    return { all: true };
  }
  if (!filter) throw fieldError('all', 'give eventId, a filter (type, from, to) or all: true');
  checkRange(body.from, body.to, 'body');
  return { type: body.type, from: body.from, to: body.to };
}

const checkRange = (from: Date | undefined, to: Date | undefined, source: 'query' | 'body') => {
  if (from && to && from > to) throw fieldError('from', 'must not be after to', source);
};

/**
 * `/api/ops/*` (mount at `/api/ops`):
 * - `GET /dead-letters?type=&from=&to=&limit=`: failed webhook events with their reason;
 * - `POST /dead-letters/replay` `{ eventId } | { type?, from?, to? } | { all: true }`;
 * - `GET /db`: the database report;
 * - `GET /sync`: backfill cursors (where each resource's last backfill got to).
 */
export function opsRouter(deps: OpsRouterDeps): Router {
  const router = express.Router();
  router.use(requireOpsToken(deps.credentials));
  router.use(express.json({ limit: '16kb' }));
  const dlq = { db: deps.db, queue: deps.stripeEventsQueue };

  router.get('/dead-letters', async (req, res) => {
    for (const [key, value] of Object.entries(req.query)) {
      if (typeof value !== 'string') throw fieldError(key, 'must be given once', 'query');
    }
    const query = parseInput(listQuery, req.query, 'query');
    checkRange(query.from, query.to, 'query');
    const list = await listDeadLetters(dlq, query);
    res.json({ ...list, count: list.deadLetters.length });
  });

  router.post('/dead-letters/replay', async (req, res) => {
    const selector = replaySelector(parseInput(replayBody, req.body, 'body'));
    try {
      const report = await replayDeadLetters(dlq, selector);
      res.status(202).json(report);
    } catch (error) {
      if (error instanceof DeadLetterNotFoundError) throw new NotFoundError(error.message);
      throw error;
    }
  });

  router.get('/db', async (_req, res) => {
    res.json(await dbReport(deps.sql));
  });

  router.get('/sync', async (_req, res) => {
    res.json({ cursors: await listCursors(deps.db) });
  });

  return router;
}
