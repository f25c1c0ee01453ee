import { globals, invalidateGlobals, invalidateUsers } from '@billing/cache';
import type { Database, Sql } from '@billing/db';
import { type Logger, moduleLogger } from '@billing/logger';
import type { RedisClient } from '@billing/redis';
import type { Stripe } from '@billing/stripe';
import { backfillSource, classifyError, describeError, syncStripeObject } from '@billing/sync';
import { eq } from 'drizzle-orm';
import type { BackoffOptions } from '../rate-limit.js';
import { cursorId, readCursor, saveCursor, startCursor } from './cursor.js';
import { driftedFields } from './drift.js';
import { pageThrough } from './paginate.js';
import { BACKFILL_RESOURCES, type BackfillResource, RESOURCE_SPECS } from './resources.js';

export interface BackfillDeps {
  db: Database;
  /** The postgres.js pool under `db` (advisory lock on a reserved connection). */
  sql: Sql;
  stripe: Stripe;
  /** When given, users whose billing state a write changed get their cache invalidated. */
  cache?: { redis: RedisClient; prefix: string } | undefined;
  logger?: Logger;
}

export interface BackfillOptions {
  resources?: readonly BackfillResource[];
  /** Connected account to read (Stripe-Account header); the platform when absent. */
  account?: string | null;
  /** Objects per Stripe page (max 100). */
  pageSize?: number;
  /** Objects of a page written at once (each in its own transaction). Default 4. */
  concurrency?: number;
  backoff?: BackoffOptions;
  /** Ignore a stored cursor and start from the top. */
  restart?: boolean;
  /** Drifted rows kept per resource in the report (all are counted). Default 100. */
  driftSample?: number;
  /** Called after each object (CLI progress output). */
  onProgress?: (progress: {
    resource: BackfillResource;
    processed: number;
    cursor: string;
  }) => void;
}

export interface DriftEntry {
  id: string;
  /** Columns that differed from Stripe, or `missing` when the row did not exist. */
  fields: string[] | 'missing';
}

export type ResourceStatus = 'complete' | 'incomplete' | 'busy';

export interface ResourceReport {
  resource: BackfillResource;
  status: ResourceStatus;
  /** Id of the last object written: where a re-run resumes. */
  cursor: string | null;
  /** Set when this run continued an interrupted one. */
  resumedFrom: string | null;
  /** Objects read and written in this run (and in total, counting the resumed part). */
  processed: number;
  totalProcessed: number;
  applied: number;
  /** Writes that lost to a newer stored write (a webhook newer than the read). */
  stale: number;
  /** Rows that differed from Stripe before the write (total across a resumed run). */
  drifted: number;
  drift: DriftEntry[];
  /** Objects that could not be written (bad shape); the walk continued. */
  errors: Array<{ id: string; message: string }>;
  /** Why the walk stopped early. */
  error?: string;
}

export interface BackfillReport {
  /** `complete` only when every resource walked to its end. */
  status: 'complete' | 'incomplete';
  resources: ResourceReport[];
}

interface StoredReport {
  drift?: DriftEntry[];
}

/**
 * Backfill and reconciliation: walks each resource's Stripe list and writes every object
 * through the same stale-write-guarded writers the webhook worker uses (`@billing/sync`),
 * ordered by the time the object was read: a webhook event created after the read still
 * wins, one from before it loses. Rows that differed from Stripe are reported as drift.
 *
 * Resumable: the cursor (last object written) is kept in `sync_cursors` every page; a run
 * that stops early (429 storm, error, crash) leaves it, and the next run continues after
 * it. One run per resource at a time (a Postgres advisory lock); a second one reports busy.
 */
export async function runBackfill(
  deps: BackfillDeps,
  options: BackfillOptions = {},
): Promise<BackfillReport> {
  const resources = options.resources ?? BACKFILL_RESOURCES;
  const reports: ResourceReport[] = [];
  for (const resource of BACKFILL_RESOURCES.filter((r) => resources.includes(r))) {
    reports.push(await backfillResource(deps, resource, options));
  }
  return {
    status: reports.every((r) => r.status === 'complete') ? 'complete' : 'incomplete',
    resources: reports,
  };
}

/** Stripe's `created` has one-second resolution: stamp a read one second before its second, so any event from that second on still wins. */
const orderingTime = (readAt: Date) => new Date((Math.floor(readAt.getTime() / 1000) - 1) * 1000);

async function backfillResource(
  deps: BackfillDeps,
  resource: BackfillResource,
  options: BackfillOptions,
): Promise<ResourceReport> {
  const log = (deps.logger ?? moduleLogger('ops.backfill')).child({ resource });
  const spec = RESOURCE_SPECS[resource];
  const account = options.account ?? null;
  const id = cursorId(resource, account);
  const sampleSize = options.driftSample ?? 100;

  const reserved = await deps.sql.reserve();
  try {
    const lockKey = `billing:backfill:${id}`;
    const [lock] = await reserved<{ locked: boolean }[]>`
      select pg_try_advisory_lock(hashtextextended(${lockKey}, 0)) as locked`;
    if (!lock?.locked) {
      const stored = await readCursor(deps.db, id);
      log.warn('another backfill of this resource is running');
      return {
        resource,
        status: 'busy',
        cursor: stored?.cursor ?? null,
        resumedFrom: null,
        processed: 0,
        totalProcessed: stored?.processed ?? 0,
        applied: 0,
        stale: 0,
        drifted: stored?.drifted ?? 0,
        drift: [],
        errors: [],
        error: 'another backfill of this resource is running',
      };
    }
    try {
      return await walk();
    } finally {
      await reserved`select pg_advisory_unlock(hashtextextended(${lockKey}, 0))`;
    }
  } finally {
    reserved.release();
  }

  async function walk(): Promise<ResourceReport> {
    const stored = await readCursor(deps.db, id);
    const resume =
      !options.restart && stored && stored.status !== 'complete' && stored.cursor
        ? stored
        : undefined;
    const startedAt = resume?.startedAt ?? new Date();
    const runId = startedAt.toISOString();
    const drift: DriftEntry[] = resume
      ? [...((resume.report as StoredReport | null)?.drift ?? [])]
      : [];
    const report: ResourceReport = {
      resource,
      status: 'incomplete',
      cursor: resume?.cursor ?? null,
      resumedFrom: resume?.cursor ?? null,
      processed: 0,
      totalProcessed: resume?.processed ?? 0,
      applied: 0,
      stale: 0,
      drifted: resume?.drifted ?? 0,
      drift,
      errors: [],
    };
    await startCursor(deps.db, {
      id,
      resource,
      cursor: report.cursor,
      processed: report.totalProcessed,
      drifted: report.drifted,
      report: { drift },
      startedAt,
    });
    log.info({ resumedFrom: report.resumedFrom }, 'backfill started');

    let catalogChanged = false;
    let handled = 0;
    const resumedTotal = report.totalProcessed;
    const result = await pageThrough<{ id: string }>({
      list: spec.list(deps.stripe, account),
      startingAfter: report.cursor,
      pageSize: options.pageSize ?? 100,
      concurrency: options.concurrency ?? 4,
      backoff: {
        ...options.backoff,
        onRetry: (info) => {
          log.warn(
            { attempt: info.attempt, delayMs: info.delayMs },
            'stripe rate limited, backing off',
          );
          options.backoff?.onRetry?.(info);
        },
      },
      onItem: async (object, readAt) => {
        try {
          await writeOne(object, readAt);
        } finally {
          handled++;
          options.onProgress?.({ resource, processed: handled, cursor: object.id });
        }
      },
      onCheckpoint: async (cursor, items) => {
        report.cursor = cursor;
        report.processed = items;
        report.totalProcessed = resumedTotal + items;
        await saveCursor(deps.db, id, {
          cursor,
          processed: report.totalProcessed,
          drifted: report.drifted,
          report: { drift },
        });
      },
    });

    async function writeOne(object: { id: string }, readAt: Date): Promise<void> {
      let fromStripe: Record<string, unknown>;
      try {
        fromStripe = spec.normalize(object);
      } catch (error) {
        report.errors.push({ id: object.id, message: describeError(error) });
        return;
      }
      const [row] = await deps.db.select().from(spec.table).where(eq(spec.idColumn, object.id));
      const fields = row
        ? driftedFields(fromStripe, row as Record<string, unknown>, spec.ignore)
        : 'missing';

      const source = backfillSource(orderingTime(readAt), {
        account,
        livemode: (object as { livemode?: boolean }).livemode ?? false,
        runId,
      });
      let outcome: Awaited<ReturnType<typeof syncStripeObject>>;
      try {
        outcome = await deps.db.transaction((tx) =>
          syncStripeObject(
            { tx, logger: log },
            object as unknown as Record<string, unknown>,
            source,
          ),
        );
      } catch (error) {
        // A bad object is reported and skipped; a transient failure stops the walk (incomplete).
        if (classifyError(error) === 'transient') throw error;
        report.errors.push({ id: object.id, message: describeError(error) });
        return;
      }
      if (outcome.outcome === 'stale') report.stale++;
      if (outcome.outcome !== 'applied') return;
      report.applied++;
      if (fields === 'missing' || fields.length > 0) {
        report.drifted++;
        if (drift.length < sampleSize) drift.push({ id: object.id, fields });
      }
      if (deps.cache && outcome.userIds.length > 0) {
        await invalidateUsers(deps.cache.redis, deps.cache.prefix, outcome.userIds, 'all');
      }
      if (resource === 'prices' || resource === 'products') catalogChanged = true;
    }

    if (catalogChanged && deps.cache) {
      await invalidateGlobals(deps.cache.redis, deps.cache.prefix, [globals.catalogue]);
    }
    report.cursor = result.cursor;
    if (result.status === 'complete') {
      report.status = 'complete';
      await saveCursor(deps.db, id, { status: 'complete', finishedAt: new Date(), error: null });
      log.info(
        {
          processed: report.processed,
          applied: report.applied,
          drifted: report.drifted,
          errors: report.errors.length,
        },
        'backfill complete',
      );
    } else {
      report.error = describeError(result.error);
      await saveCursor(deps.db, id, { status: 'incomplete', error: report.error });
      log.error({ cursor: result.cursor, err: result.error }, 'backfill incomplete');
    }
    return report;
  }
}
