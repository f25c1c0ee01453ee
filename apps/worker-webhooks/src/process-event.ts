import { performance } from 'node:perf_hooks';
import { globals, invalidateGlobals, invalidateUsers } from '@billing/cache';
import {
  type Database,
  poolLockTimeoutMs,
  type WebhookEventStatus,
  webhookEvents,
} from '@billing/db';
import type { Logger } from '@billing/logger';
import type { StripeEventPayload } from '@billing/queue';
import type { RedisClient } from '@billing/redis';
import {
  classifyError,
  customerLockSql,
  describeError,
  PermanentSyncError,
  parseStripeEvent,
  type Refetcher,
  type StripeEventEnvelope,
  type SyncContext,
  type SyncFamily,
  type SyncResult,
} from '@billing/sync';
import { UnrecoverableError } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import { handlerFor } from './handlers/registry.js';
import type { WorkerMetrics } from './metrics.js';

export interface ProcessDeps {
  db: Database;
  /** Client used for post-commit cache invalidation (DEL + PUBLISH). */
  redis: RedisClient;
  /** REDIS_PREFIX: the cache keys and invalidation channel live under it. */
  redisPrefix: string;
  logger: Logger;
  /** Stripe access for re-fetching; without it ties are last-arrival-wins and nothing is re-read. */
  refetcher?: Refetcher;
  /** STRIPE_REFETCH_OBJECTS. */
  refetchAlways?: ReadonlySet<SyncFamily>;
  refetchOnTie?: boolean;
  /**
   * Postgres lock_timeout inside the event transaction, in ms. Best also given to the pool
   * (`createDb({ lockTimeoutMs })`): then it costs nothing per event; otherwise each event
   * transaction sets it with one statement.
   */
  lockTimeoutMs?: number;
  /** Bound on the post-commit invalidation, in ms. */
  invalidationTimeoutMs?: number;
  metrics?: WorkerMetrics;
}

export interface ProcessOptions {
  /** BullMQ will not retry after this attempt: a transient failure is then final too. */
  finalAttempt?: boolean;
}

export type ProcessStatus = 'processed' | 'ignored' | 'duplicate';

export interface ProcessOutcome {
  eventId: string;
  type: string;
  status: ProcessStatus;
  /** What the handler did; absent for ignored and duplicate events. */
  result?: SyncResult;
  /** Users whose cache was invalidated after the commit. */
  invalidated: string[];
  /** Whether the cached plan catalogue (prices resolved from lookup keys) was invalidated. */
  catalogueInvalidated: boolean;
}

/** Families whose writes change the plan catalogue the API caches globally. */
const CATALOGUE_FAMILIES = new Set(['price', 'product', 'plan']);

/** The raw body as stored in `webhook_events.payload`: the parsed JSON, or the text if it is not JSON. */
function storedPayload(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Applies one Stripe event exactly once (DESIGN invariants 2, 3, 6, 7). BullMQ-independent:
 * the worker calls it per job, tests call it directly.
 *
 * 1. Parse the body the ingress verified. Not JSON / not an event: permanent failure.
 * 2. In ONE transaction: claim `webhook_events` and mark it processed / ignored with
 *    attempts + 1 in one statement (INSERT … ON CONFLICT (event_id) DO UPDATE … WHERE not
 *    done yet). Already processed / ignored: a no-op, acknowledged. Otherwise run the handler
 *    (guarded upserts); a failure rolls the mark back with the writes.
 * 3. After the commit (never before): invalidate the affected users' cache.
 * Errors: transient ones are rethrown for BullMQ to retry with backoff, after the attempt and
 * the error are recorded on the row in a separate short statement; permanent ones mark the
 * row `failed` with the reason and throw UnrecoverableError (straight to the failed set).
 */
export async function processStripeEvent(
  deps: ProcessDeps,
  payload: StripeEventPayload,
  options: ProcessOptions = {},
): Promise<ProcessOutcome> {
  const started = performance.now();
  const logger = deps.logger.child({ eventId: payload.eventId, type: payload.type });
  let envelope: StripeEventEnvelope;
  try {
    envelope = parseStripeEvent(payload.raw);
    if (envelope.id !== payload.eventId) {
      throw new PermanentSyncError(
        'event_id_mismatch',
        `job ${payload.eventId} carries event ${envelope.id}`,
      );
    }
  } catch (error) {
    await recordFailure(deps, logger, payload, undefined, error, 'failed');
    deps.metrics?.failed.inc({ type: payload.type, reason: 'permanent' });
    throw new UnrecoverableError(describeError(error));
  }

  try {
    const { family, ...outcome } = await applyInTransaction(deps, logger, envelope);
    const invalidated = outcome.result?.userIds ?? [];
    const catalogueInvalidated =
      outcome.result?.outcome === 'applied' &&
      family !== undefined &&
      CATALOGUE_FAMILIES.has(family);
    // 3. After commit: a read between an earlier delete and the commit would re-cache old state.
    if (invalidated.length > 0 || catalogueInvalidated) {
      await invalidate(deps, logger, invalidated, catalogueInvalidated);
    }
    observe(deps, envelope, outcome, started);
    logger.debug({ status: outcome.status, outcome: outcome.result?.outcome }, 'event done');
    return {
      eventId: envelope.id,
      type: envelope.type,
      ...outcome,
      invalidated,
      catalogueInvalidated,
    };
  } catch (error) {
    const kind = classifyError(error);
    if (kind === 'permanent' || options.finalAttempt) {
      logger.error({ err: error, kind }, 'event failed permanently');
      await recordFailure(deps, logger, payload, envelope, error, 'failed');
      deps.metrics?.failed.inc({
        type: envelope.type,
        reason: kind === 'permanent' ? 'permanent' : 'exhausted',
      });
      if (kind === 'permanent') throw new UnrecoverableError(describeError(error));
      throw error;
    }
    logger.warn({ err: error }, 'event failed, will retry');
    await recordFailure(deps, logger, payload, envelope, error, 'received');
    deps.metrics?.retried.inc({ type: envelope.type });
    throw error;
  }
}

async function applyInTransaction(
  deps: ProcessDeps,
  logger: Logger,
  envelope: StripeEventEnvelope,
): Promise<{ status: ProcessStatus; result?: SyncResult; family?: string }> {
  const handler = handlerFor(envelope.type);
  const object = envelope.objectId ? envelope.object : undefined;
  const lockedCustomerId = (object && handler?.customerToLock?.(object)) || undefined;
  const setLockTimeout = needsLockTimeoutStatement(deps);
  return deps.db.transaction(async (tx) => {
    if (setLockTimeout) {
      await tx.execute(sql`select set_config('lock_timeout', ${`${deps.lockTimeoutMs}ms`}, true)`);
    }
    // 2a. Claim and mark in one statement. The unique event_id makes a concurrent delivery of
    //     the same event wait here for our commit; ON CONFLICT DO UPDATE locks the existing row
    //     and its WHERE sees the latest committed status, so an event already processed or
    //     ignored returns no row: a duplicate, changed nothing. Otherwise the row is marked
    //     done right away (attempts + 1): the mark commits with the handler's writes or, if the
    //     handler throws, rolls back with them, exactly as a mark written after them would.
    //     A claimed event also takes its customer's lock here (RETURNING runs only for a
    //     claimed row), after the row, as the writer would have right after the claim: the
    //     writer then skips its own lock statement. Its statements start after this one, so
    //     their snapshots already see everything committed under that lock.
    const claimStatus: WebhookEventStatus = handler && object ? 'processed' : 'ignored';
    const claimed = await tx
      .insert(webhookEvents)
      .values({ ...eventRow(envelope), status: claimStatus, attempts: 1, processedAt: sql`now()` })
      .onConflictDoUpdate({
        target: webhookEvents.eventId,
        set: {
          status: claimStatus,
          attempts: sql`${webhookEvents.attempts} + 1`,
          error: null,
          processedAt: sql`now()`,
        },
        setWhere: sql`${webhookEvents.status} not in ('processed', 'ignored')`,
      })
      .returning({
        id: webhookEvents.id,
        ...(lockedCustomerId ? { customerLock: customerLockSql(lockedCustomerId) } : {}),
      });
    if (claimed.length === 0) return { status: 'duplicate' as const };

    // 2b. Apply. Unknown types and objects without an id were claimed as ignored.
    if (!handler || !object) return { status: 'ignored' as const, family: handler?.family };
    const ctx: SyncContext = {
      tx,
      logger,
      refetcher: deps.refetcher,
      refetchAlways: deps.refetchAlways,
      refetchOnTie: deps.refetchOnTie,
      lockedCustomerId,
    };
    const result = await handler.apply(ctx, object, {
      eventId: envelope.id,
      eventType: envelope.type,
      created: envelope.created,
      account: envelope.account,
      livemode: envelope.livemode,
    });
    // 2c. A handler that found nothing to write (rare: e.g. a guest checkout) turns the mark
    //     into `ignored`, in the same transaction.
    if (result.outcome === 'ignored') {
      await tx
        .update(webhookEvents)
        .set({ status: 'ignored' })
        .where(eq(webhookEvents.id, claimed[0]!.id));
      return { status: 'ignored' as const, result, family: handler.family };
    }
    return { status: 'processed' as const, result, family: handler.family };
  });
}

/**
 * Whether the event transaction must set lock_timeout itself: not when the pool's connections
 * already start with the same value (`createDb({ lockTimeoutMs })`), which saves a round trip
 * per event.
 */
function needsLockTimeoutStatement(deps: ProcessDeps): boolean {
  if (!deps.lockTimeoutMs) return false;
  return poolLockTimeoutMs(deps.db) !== deps.lockTimeoutMs;
}

function eventRow(envelope: StripeEventEnvelope) {
  return {
    eventId: envelope.id,
    type: envelope.type,
    apiVersion: envelope.apiVersion,
    account: envelope.account,
    livemode: envelope.livemode,
    created: envelope.created,
    objectId: envelope.objectId,
    payload: envelope.json,
  };
}

/**
 * Records a failed attempt outside the (rolled back) event transaction: attempts + 1 and the
 * error, and status `failed` when it will not be retried. A row already processed is never
 * touched. If Postgres itself is down this cannot be written; the job still retries.
 */
async function recordFailure(
  deps: ProcessDeps,
  logger: Logger,
  payload: StripeEventPayload,
  envelope: StripeEventEnvelope | undefined,
  error: unknown,
  status: 'failed' | 'received',
): Promise<void> {
  const message = describeError(error);
  const row = envelope
    ? eventRow(envelope)
    : {
        eventId: payload.eventId,
        type: payload.type,
        created: new Date(payload.receivedAt),
        payload: storedPayload(payload.raw),
      };
  try {
    await deps.db
      .insert(webhookEvents)
      .values({ ...row, status, attempts: 1, error: message })
      .onConflictDoUpdate({
        target: webhookEvents.eventId,
        set: { status, attempts: sql`${webhookEvents.attempts} + 1`, error: message },
        setWhere: sql`${webhookEvents.status} not in ('processed', 'ignored')`,
      });
  } catch (recordError) {
    logger.warn({ err: recordError }, 'could not record the failed attempt');
  }
}

async function invalidate(
  deps: ProcessDeps,
  logger: Logger,
  userIds: string[],
  catalogue: boolean,
): Promise<void> {
  const timeoutMs = deps.invalidationTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.all([
        invalidateUsers(deps.redis, deps.redisPrefix, userIds),
        catalogue
          ? invalidateGlobals(deps.redis, deps.redisPrefix, [globals.catalogue])
          : undefined,
      ]),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`cache invalidation timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    // The write is committed and must not be undone or re-applied; the cached entries expire
    // by TTL (DESIGN invariant 7's bound). Counted so an alert can fire.
    deps.metrics?.invalidationFailures.inc();
    logger.error({ err: error, users: userIds.length }, 'cache invalidation failed after commit');
  } finally {
    clearTimeout(timer);
  }
}

function observe(
  deps: ProcessDeps,
  envelope: StripeEventEnvelope,
  outcome: { status: ProcessStatus; result?: SyncResult },
  started: number,
): void {
  const metrics = deps.metrics;
  if (!metrics) return;
  const type = envelope.type;
  metrics.processed.inc({ type, outcome: outcome.status });
  metrics.duration.observe({ type }, (performance.now() - started) / 1000);
  if (outcome.status !== 'duplicate') {
    metrics.lag.observe({ type }, Math.max(0, (Date.now() - envelope.created.getTime()) / 1000));
  }
  if (outcome.result?.outcome === 'stale') metrics.ordering.inc({ type, result: 'stale' });
  if (outcome.result?.tie) metrics.ordering.inc({ type, result: 'tie_refetched' });
}
