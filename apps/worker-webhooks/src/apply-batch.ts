import { performance } from 'node:perf_hooks';
import { type Database, poolLockTimeoutMs } from '@billing/db';
import type { Logger } from '@billing/logger';
import type { StripeEventPayload } from '@billing/queue';
import type { RedisClient } from '@billing/redis';
import {
  type BatchOutcome,
  type BatchWrite,
  classifyError,
  describeError,
  type FreshObjects,
  isUnavailable,
  MAX_REFETCH_ROUNDS,
  PermanentSyncError,
  type PreparedBatch,
  parseStripeEvent,
  postgresClientOf,
  prepareBatch,
  type Refetcher,
  type RefetchKey,
  RefetchNeeded,
  refetchesBefore,
  type StripeEventEnvelope,
  type SyncFamily,
  type SyncResult,
  sqlRunner,
  writeBatch,
} from '@billing/sync';
import { UnrecoverableError } from 'bullmq';
import {
  CLAIM_STATEMENT,
  claimRows,
  MARK_IGNORED_STATEMENT,
  RECORD_FAILURES_STATEMENT,
} from './claim.js';
import { handlerFor } from './handlers/registry.js';
import { invalidateAfterCommit } from './invalidate.js';
import type { WorkerMetrics } from './metrics.js';

export interface ProcessDeps {
  db: Database;
  /** Client used for post-commit cache invalidation (DEL + PUBLISH). */
  redis: RedisClient;
  /** REDIS_PREFIX: the cache keys and invalidation channel live under it. */
  redisPrefix: string;
  logger: Logger;
  /** Stripe access for re-reads; without it ties are decided from content or deterministically. */
  refetcher?: Refetcher;
  /** STRIPE_REFETCH_OBJECTS. */
  refetchAlways?: ReadonlySet<SyncFamily>;
  refetchOnTie?: boolean;
  /**
   * Postgres lock_timeout inside the batch transaction, in ms. Best also given to the pool
   * (`createDb({ lockTimeoutMs })`): then it costs nothing; otherwise each batch transaction
   * sets it with one statement.
   */
  lockTimeoutMs?: number;
  /** Bound on the post-commit invalidation, in ms. */
  invalidationTimeoutMs?: number;
  metrics?: WorkerMetrics;
}

export interface BatchItem {
  payload: StripeEventPayload;
  /** BullMQ will not retry after this attempt: a transient failure is then final too. */
  finalAttempt?: boolean;
}

export type ProcessStatus = 'processed' | 'ignored' | 'duplicate';

export interface ProcessOutcome {
  eventId: string;
  type: string;
  status: ProcessStatus;
  /** What the writer did; absent for ignored and duplicate events. */
  result?: SyncResult;
  /** Users whose cache was invalidated after the commit (this event's share). */
  invalidated: string[];
  /** Whether the cached plan catalogue was invalidated because of this event. */
  catalogueInvalidated: boolean;
}

/** Settles one job: its outcome, or the error BullMQ must see (UnrecoverableError = no retry). */
export type ItemResult = { ok: true; outcome: ProcessOutcome } | { ok: false; error: unknown };

/** Families whose writes change the plan catalogue the API caches globally. */
const CATALOGUE_FAMILIES = new Set(['price', 'product', 'plan']);

interface Entry {
  index: number;
  item: BatchItem;
  envelope: StripeEventEnvelope;
  /** What to write; undefined when the event is recorded as ignored. */
  write?: BatchWrite;
  /** Another entry of this batch with the same event id (a duplicate delivery). */
  duplicateOf?: Entry;
}

interface Failure {
  entry: Pick<Entry, 'index' | 'item'> & { envelope?: StripeEventEnvelope };
  error: unknown;
}

/**
 * Applies a batch of Stripe events (DESIGN invariants 2, 3, 6, 7, 9), each exactly once:
 *
 * 1. Parse every body (not JSON / not an event / not normalisable: that event alone fails
 *    permanently).
 * 2. Re-read from Stripe what must be re-read (STRIPE_REFETCH_OBJECTS, truncated lists,
 *    same-second ties inside the batch that content cannot decide), OUTSIDE the transaction.
 * 3. ONE transaction: lock the batch's customers (sorted) and claim every event in one
 *    statement; write the claimed events set-based (`@billing/sync` writeBatch, each object
 *    once). A tie with a stored row that needs Stripe rolls back, re-reads outside, retries.
 * 4. After the commit: one invalidation of every affected user.
 *
 * A failing batch is split in two and each half retried, down to the one bad event, which
 * then takes today's path: its own reason on its own row, retry with backoff or the failed
 * set. When the database itself is unreachable the batch is not split: every event fails
 * transiently at once.
 */
export async function applyBatch(
  deps: ProcessDeps,
  items: readonly BatchItem[],
): Promise<ItemResult[]> {
  const started = performance.now();
  const results: (ItemResult | undefined)[] = items.map(() => undefined);
  const failures: Failure[] = [];
  const entries: Entry[] = [];
  const seen = new Map<string, Entry>();

  for (const [index, item] of items.entries()) {
    let envelope: StripeEventEnvelope;
    try {
      envelope = parseStripeEvent(item.payload.raw);
      if (envelope.id !== item.payload.eventId) {
        throw new PermanentSyncError(
          'event_id_mismatch',
          `job ${item.payload.eventId} carries event ${envelope.id}`,
        );
      }
    } catch (error) {
      failures.push({ entry: { index, item }, error });
      continue;
    }
    const handler = handlerFor(envelope.type);
    const object = envelope.objectId ? envelope.object : undefined;
    const entry: Entry = { index, item, envelope };
    if (handler && object) {
      entry.write = {
        family: handler.family,
        object,
        source: {
          eventId: envelope.id,
          eventType: envelope.type,
          created: envelope.created,
          account: envelope.account,
          livemode: envelope.livemode,
        },
        previousAttributes: envelope.previousAttributes,
      };
    }
    const first = seen.get(envelope.id);
    if (first) entry.duplicateOf = first;
    else seen.set(envelope.id, entry);
    entries.push(entry);
  }

  const unique = entries.filter((e) => !e.duplicateOf);
  const applied = new Map<Entry, ProcessOutcome>();
  const errors = new Map<Entry, unknown>();
  await applySplitting(deps, unique, applied, errors, failures);

  for (const entry of entries) {
    const origin = entry.duplicateOf ?? entry;
    const outcome = applied.get(origin);
    if (outcome) {
      results[entry.index] = {
        ok: true,
        outcome: entry.duplicateOf
          ? { ...outcome, status: 'duplicate', result: undefined, invalidated: [] }
          : outcome,
      };
      observe(deps, entry.envelope, results[entry.index] as { outcome: ProcessOutcome }, started);
    } else if (entry.duplicateOf) {
      const error = errors.get(origin);
      if (error !== undefined) results[entry.index] = { ok: false, error: settledError(error) };
    }
  }
  for (const [index, error] of await recordFailures(deps, failures)) {
    results[index] = { ok: false, error };
  }
  for (const [entry, error] of errors) {
    if (!results[entry.index]) results[entry.index] = { ok: false, error: settledError(error) };
  }
  return results.map(
    (r) => r ?? { ok: false, error: new Error('event left unsettled by its batch') },
  );
}

/** The error a job fails with: permanent ones as UnrecoverableError (straight to the failed set). */
function settledError(error: unknown): unknown {
  return classifyError(error) === 'permanent'
    ? new UnrecoverableError(describeError(error))
    : error;
}

async function applySplitting(
  deps: ProcessDeps,
  group: Entry[],
  applied: Map<Entry, ProcessOutcome>,
  errors: Map<Entry, unknown>,
  failures: Failure[],
): Promise<void> {
  if (group.length === 0) return;
  let batch: PreparedBatch;
  const writes = group.filter((e) => e.write);
  batch = prepareBatch(
    writes.map((e) => e.write!),
    options(deps),
  );
  // A payload that does not normalise fails alone, before any statement.
  const bad = new Set<Entry>();
  for (const item of batch.items) {
    if (item.error === undefined) continue;
    const entry = writes[item.index]!;
    bad.add(entry);
    failures.push({ entry, error: item.error });
    errors.set(entry, item.error);
  }
  if (bad.size > 0) {
    group = group.filter((e) => !bad.has(e));
    return applySplitting(deps, group, applied, errors, failures);
  }

  try {
    const outcome = await commit(deps, group, writes, batch);
    publishOutcome(group, writes, outcome, applied);
    await invalidateAfterCommit(deps, outcome.userIds, outcome.catalogue);
    deps.metrics?.batchSize.observe(group.length);
    for (const [decision, count] of Object.entries(outcome.ties)) {
      if (count > 0) deps.metrics?.ties.inc({ decision }, count);
    }
  } catch (error) {
    if (error instanceof StripeReadFailed) {
      // The objects Stripe could not be read for fail alone (transient: retried later).
      for (const entry of error.entries) {
        failures.push({ entry, error: error.cause });
        errors.set(entry, error.cause);
      }
      const rest = group.filter((e) => !error.entries.includes(e));
      return applySplitting(deps, rest, applied, errors, failures);
    }
    if (group.length === 1 || isUnavailable(error)) {
      for (const entry of group) {
        failures.push({ entry, error });
        errors.set(entry, error);
      }
      return;
    }
    deps.metrics?.batchSplits.inc();
    deps.logger.warn(
      { err: error, events: group.length },
      'batch failed; splitting it to find the event',
    );
    const half = Math.ceil(group.length / 2);
    await applySplitting(deps, group.slice(0, half), applied, errors, failures);
    await applySplitting(deps, group.slice(half), applied, errors, failures);
  }
}

const options = (deps: ProcessDeps) => ({
  logger: deps.logger,
  refetcher: deps.refetcher,
  refetchAlways: deps.refetchAlways,
  refetchOnTie: deps.refetchOnTie,
});

class StripeReadFailed extends Error {
  constructor(
    readonly entries: Entry[],
    cause: unknown,
  ) {
    super(`Stripe re-read failed: ${describeError(cause)}`, { cause });
  }
}

/** Re-reads outside the transaction; a failed read fails only the events of that object. */
async function fetchOutside(
  deps: ProcessDeps,
  writes: Entry[],
  keys: readonly RefetchKey[],
  fresh: Map<string, Record<string, unknown> | null>,
): Promise<void> {
  if (!deps.refetcher || keys.length === 0) return;
  const refetcher = deps.refetcher;
  const failed: { key: RefetchKey; error: unknown }[] = [];
  await Promise.all(
    keys.map(async (key) => {
      try {
        fresh.set(
          `${key.family}:${key.account ?? ''}:${key.id}`,
          await refetcher.retrieve(key.family, key.id, key.account),
        );
      } catch (error) {
        failed.push({ key, error });
      }
    }),
  );
  if (failed.length === 0) return;
  const affected = writes.filter((e) =>
    failed.some(
      ({ key }) =>
        e.write!.family === key.family &&
        e.write!.source.account === key.account &&
        objectKey(e) === key.id,
    ),
  );
  throw new StripeReadFailed(affected.length > 0 ? affected : writes, failed[0]!.error);
}

/** The id a write is keyed by (the customer for an entitlement summary). */
function objectKey(entry: Entry): string | undefined {
  return entry.envelope.objectId ?? undefined;
}

/** Whether the transaction must set lock_timeout itself (a pool without it). */
function needsLockTimeoutStatement(deps: ProcessDeps): boolean {
  if (!deps.lockTimeoutMs) return false;
  return poolLockTimeoutMs(deps.db) !== deps.lockTimeoutMs;
}

async function commit(
  deps: ProcessDeps,
  group: Entry[],
  writes: Entry[],
  batch: PreparedBatch,
): Promise<BatchOutcome & { claimed: Set<string> }> {
  const fresh = new Map<string, Record<string, unknown> | null>();
  await fetchOutside(deps, writes, refetchesBefore(batch), fresh);
  const rows = claimRows(
    group.map((e) => ({
      envelope: e.envelope,
      raw: e.item.payload.raw,
      status: e.write ? 'processed' : 'ignored',
    })),
  );
  for (let round = 1; ; round++) {
    // After the last round of re-reads a remaining tie is decided deterministically.
    const prepared =
      round > MAX_REFETCH_ROUNDS
        ? { ...batch, options: { ...batch.options, refetchOnTie: false } }
        : batch;
    try {
      return await transaction(deps, rows, group, writes, prepared, fresh);
    } catch (error) {
      if (!(error instanceof RefetchNeeded)) throw error;
      if (round <= MAX_REFETCH_ROUNDS) await fetchOutside(deps, writes, error.keys, fresh);
    }
  }
}

async function transaction(
  deps: ProcessDeps,
  claimJson: string,
  group: Entry[],
  writes: Entry[],
  batch: PreparedBatch,
  fresh: FreshObjects,
): Promise<BatchOutcome & { claimed: Set<string> }> {
  const setLockTimeout = needsLockTimeoutStatement(deps);
  return postgresClientOf(deps.db).begin(async (tx) => {
    const run = sqlRunner(tx);
    if (setLockTimeout)
      await run.query(`select set_config('lock_timeout', $1, true)`, [`${deps.lockTimeoutMs}ms`]);
    const claimedRows = await run.query<{ event_id: string }>(CLAIM_STATEMENT, [
      batch.lockKeys,
      claimJson,
    ]);
    const claimed = new Set(claimedRows.map((r) => r.event_id));
    // Only the claimed events are written: the others were already done (duplicates).
    const claimedWrites = writes.filter((e) => claimed.has(e.envelope.id));
    const sub =
      claimedWrites.length === writes.length
        ? batch
        : prepareBatch(
            claimedWrites.map((e) => e.write!),
            batch.options,
          );
    const outcome = await writeBatch(run, sub, { fresh, locksHeld: true });
    // Map results back to the full write list.
    const results: (SyncResult | undefined)[] = writes.map(() => undefined);
    claimedWrites.forEach((e, i) => {
      results[writes.indexOf(e)] = outcome.results[i];
    });
    const ignored = claimedWrites
      .filter((_, i) => outcome.results[i]?.outcome === 'ignored')
      .map((e) => e.envelope.id);
    if (ignored.length > 0) await run.query(MARK_IGNORED_STATEMENT, [ignored]);
    void group;
    return { ...outcome, results, claimed };
  }) as Promise<BatchOutcome & { claimed: Set<string> }>;
}

function publishOutcome(
  group: Entry[],
  writes: Entry[],
  outcome: BatchOutcome & { claimed: Set<string> },
  applied: Map<Entry, ProcessOutcome>,
): void {
  for (const entry of group) {
    const base = { eventId: entry.envelope.id, type: entry.envelope.type };
    if (!outcome.claimed.has(entry.envelope.id)) {
      applied.set(entry, {
        ...base,
        status: 'duplicate',
        invalidated: [],
        catalogueInvalidated: false,
      });
      continue;
    }
    const result = entry.write ? outcome.results[writes.indexOf(entry)] : undefined;
    if (!result) {
      applied.set(entry, {
        ...base,
        status: 'ignored',
        invalidated: [],
        catalogueInvalidated: false,
      });
      continue;
    }
    applied.set(entry, {
      ...base,
      status: result.outcome === 'ignored' ? 'ignored' : 'processed',
      result,
      invalidated: result.outcome === 'applied' ? result.userIds : [],
      catalogueInvalidated:
        result.outcome === 'applied' && CATALOGUE_FAMILIES.has(entry.write!.family),
    });
  }
}

/**
 * Records the failed events in one statement outside any transaction and turns each error
 * into what its job throws. If Postgres itself is down this cannot be written; the jobs
 * still retry.
 */
async function recordFailures(
  deps: ProcessDeps,
  failures: Failure[],
): Promise<Map<number, unknown>> {
  const out = new Map<number, unknown>();
  if (failures.length === 0) return out;
  const rows = failures.map(({ entry, error }) => {
    const kind = classifyError(error);
    const final = kind === 'permanent' || entry.item.finalAttempt === true;
    const type = entry.envelope?.type ?? entry.item.payload.type;
    const logger = deps.logger.child({ eventId: entry.item.payload.eventId, type });
    if (final) {
      logger.error({ err: error, kind }, 'event failed permanently');
      deps.metrics?.failed.inc({ type, reason: kind === 'permanent' ? 'permanent' : 'exhausted' });
    } else {
      logger.warn({ err: error }, 'event failed, will retry');
      deps.metrics?.retried.inc({ type });
    }
    out.set(
      entry.index,
      kind === 'permanent' ? new UnrecoverableError(describeError(error)) : error,
    );
    const e = entry.envelope;
    return {
      event_id: e?.id ?? entry.item.payload.eventId,
      type,
      api_version: e?.apiVersion ?? null,
      account: e?.account ?? null,
      livemode: e?.livemode ?? false,
      created: e?.created ?? new Date(entry.item.payload.receivedAt),
      object_id: e?.objectId ?? null,
      payload: e ? e.json : storedPayload(entry.item.payload.raw),
      status: final ? 'failed' : 'received',
      error: describeError(error),
    };
  });
  try {
    await sqlRunner(postgresClientOf(deps.db)).query(RECORD_FAILURES_STATEMENT, [
      JSON.stringify(rows),
    ]);
  } catch (recordError) {
    deps.logger.warn({ err: recordError }, 'could not record the failed attempts');
  }
  return out;
}

/** The raw body as stored in `webhook_events.payload`: the parsed JSON, or the text if it is not JSON. */
function storedPayload(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function observe(
  deps: ProcessDeps,
  envelope: StripeEventEnvelope,
  settled: { outcome: ProcessOutcome },
  started: number,
): void {
  const metrics = deps.metrics;
  if (!metrics) return;
  const { outcome } = settled;
  const type = envelope.type;
  metrics.processed.inc({ type, outcome: outcome.status });
  metrics.duration.observe({ type }, (performance.now() - started) / 1000);
  if (outcome.status !== 'duplicate') {
    metrics.lag.observe({ type }, Math.max(0, (Date.now() - envelope.created.getTime()) / 1000));
  }
  if (outcome.result?.outcome === 'stale')
    metrics.ordering.inc({
      type,
      result: outcome.result.superseded ? 'superseded_in_batch' : 'stale',
    });
  if (outcome.result?.tie) metrics.ordering.inc({ type, result: `tie_${outcome.result.tie}` });
}
