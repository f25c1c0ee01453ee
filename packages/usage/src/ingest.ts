import type { Sql } from '@billing/db';
import { moduleLogger } from '@billing/logger';
import type postgres from 'postgres';
import { defaultUsageConfig, type UsageConfig } from './env.js';
import type { RecordRejection, UsageError } from './errors.js';
import { reserve, type Settlement, settleCounter, type UsageLimiter } from './limiter.js';
import { type BillingPeriod, loadBillingAnchors, periodAt } from './period.js';
import { type ValidUsageRecord, validateUsageRecords } from './validate.js';

const log = moduleLogger('usage.ingest');

type Query = Sql | postgres.TransactionSql;

export interface IngestOptions {
  /**
   * true: all or nothing. If any record is rejected, nothing is stored; the bad records carry
   * their reason and every other record `batch_rejected`. false: the valid records are
   * stored and each bad one is reported. Duplicates are never a rejection.
   */
  atomic: boolean;
  /** Known metric names (keys of the plan list's limits). */
  metrics: Iterable<string>;
  /** Reject records that would take the user over the plan limit (`limit_exceeded`). */
  enforceLimit?: boolean;
  /**
   * Redis counters; required with enforceLimit. When given without enforceLimit, stored
   * records are still added to existing counters so they keep following Postgres.
   */
  limiter?: UsageLimiter;
  now?: Date;
  config?: UsageConfig;
}

export interface IngestResult {
  /** Records stored by this call. */
  accepted: number;
  /** Records whose (userId, idempotencyKey) was already stored, or repeated in the batch. */
  duplicates: number;
  rejected: RecordRejection[];
  /** Users with at least one stored record: their cached usage is stale. */
  affectedUserIds: string[];
}

interface Booking {
  record: ValidUsageRecord;
  period: BillingPeriod;
  /** The record's own period when it was booked late into the current one. */
  originalPeriodStart: Date | null;
}

interface Reservation {
  userId: string;
  metric: string;
  periodStart: Date;
  quantity: number;
  index: number;
  /** The reservation id on its counter (one per counter per write). */
  reservation: string;
}

const pairKey = (userId: string, key: string) => `${userId}\u0000${key}`;
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Advisory-lock namespace of "corrections of one original" (classid of the two-int form). */
const CORRECTION_LOCK_CLASS = 0x5553;

/**
 * Stores usage records exactly once.
 *
 * 1. Validate each record (no database).
 * 2. Book each record into a billing period: the period containing occurredAt (from the
 *    user's live subscription, or the free rule). A period that ended more than the grace
 *    window ago is closed: per USAGE_LATE_POLICY the record is booked as an adjustment in
 *    the current period (`adjust`, default) or rejected with `period_closed` (`reject`).
 * 3. Corrections (negative, `correctsKey`): under an advisory lock per original, check it
 *    exists, is not itself a correction, has the same metric, and is not over-corrected.
 * 4. enforceLimit: check-and-reserve each record's units in Redis (seeded from Postgres).
 * 5. One multi-row INSERT … ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING:
 *    what is not returned was a duplicate, exact even under concurrent retries because the
 *    unique index decides. Rows go in a fixed order so concurrent batches cannot deadlock.
 * 6. Settle every counter the write touched, enforced or not, with the rows' transaction id
 *    (limiter.ts): reservations of records not stored are given back, stored rows the
 *    counter does not hold yet are added, exactly once.
 */
export async function ingestUsage(
  sql: Sql,
  records: readonly unknown[],
  options: IngestOptions,
): Promise<IngestResult> {
  const now = options.now ?? new Date();
  const config = options.config ?? defaultUsageConfig();
  if (options.enforceLimit && !options.limiter)
    throw new Error('ingestUsage: enforceLimit needs a limiter');

  const validation = validateUsageRecords(records, {
    metrics: options.metrics,
    now,
    maxFutureSkewMs: config.maxFutureSkewMs,
    // No user has a period before metering began (USAGE_FREE_EPOCH); earlier dates are
    // typos or probes (0001-01-01) that would otherwise be booked as adjustments.
    earliest: config.freeEpoch,
  });
  const rejections = new Map<number, UsageError>(
    validation.rejected.map((r) => [r.index, r.error]),
  );
  let duplicates = 0;

  // A key repeated within the batch: the first occurrence stands, the rest are duplicates.
  const seen = new Set<string>();
  const unique: ValidUsageRecord[] = [];
  for (const record of validation.valid) {
    const key = pairKey(record.userId, record.idempotencyKey);
    if (seen.has(key)) duplicates++;
    else {
      seen.add(key);
      unique.push(record);
    }
  }

  const bookings = await book(sql, unique, now, config, rejections);
  const hasCorrections = bookings.some((b) => b.record.correctsKey !== null);

  // Reservations made and not yet settled, so a failed commit can give them back.
  let unsettled: Reservation[] = [];
  const run = async (q: Query): Promise<Outcome> => {
    let candidates = bookings.filter((b) => !rejections.has(b.record.index));
    if (hasCorrections) {
      candidates = await checkCorrections(q, candidates, rejections);
    }
    if (options.enforceLimit) {
      // A retry of a stored record is a duplicate, not a limit breach: find those first.
      const known = await existingKeys(
        q,
        candidates.map((b) => b.record),
      );
      candidates = candidates.filter(
        (b) => !known.has(pairKey(b.record.userId, b.record.idempotencyKey)),
      );
      duplicates += known.size;
    }

    if (options.atomic && rejections.size > 0)
      return { result: atomicRejection(records.length, rejections) };

    let reservations: Reservation[] = [];
    if (options.enforceLimit && options.limiter) {
      reservations = await reserveAll(sql, options.limiter, candidates, rejections, now, config);
      unsettled = reservations;
      candidates = candidates.filter((b) => !rejections.has(b.record.index));
      if (options.atomic && rejections.size > 0) {
        unsettled = [];
        await settleAll(options.limiter, releasesOf(reservations));
        return { result: atomicRejection(records.length, rejections) };
      }
    }

    let inserted: Set<string>;
    let txid: string | undefined;
    try {
      ({ inserted, txid } = await insertRows(q, candidates));
    } catch (error) {
      unsettled = [];
      if (options.limiter) await settleAll(options.limiter, releasesOf(reservations));
      throw error;
    }
    const affected = new Set<string>();
    for (const b of candidates) {
      if (inserted.has(pairKey(b.record.userId, b.record.idempotencyKey)))
        affected.add(b.record.userId);
    }
    duplicates += candidates.length - inserted.size;
    return {
      result: {
        accepted: inserted.size,
        duplicates,
        rejected: sortedRejections(rejections),
        affectedUserIds: [...affected],
      },
      stored: { inserted, txid, candidates, reservations },
    };
  };

  let outcome: Outcome;
  try {
    outcome = hasCorrections ? await sql.begin((tx) => run(tx)) : await run(sql);
  } catch (error) {
    // The transaction failed after reserving (e.g. at COMMIT): nothing was stored.
    if (options.limiter && unsettled.length > 0)
      await settleAll(options.limiter, releasesOf(unsettled));
    throw error;
  }
  if (options.limiter && outcome.stored) await followCounters(options.limiter, outcome.stored);
  return outcome.result;
}

interface Outcome {
  result: IngestResult;
  /** Present when the insert ran: what the Redis counters must follow. */
  stored?: {
    inserted: Set<string>;
    /** Transaction id of the stored rows (one statement, or the batch's transaction). */
    txid: string | undefined;
    candidates: Booking[];
    reservations: Reservation[];
  };
}

/** Step 2: the billing period of every record, and the late-record policy. */
async function book(
  sql: Sql,
  records: ValidUsageRecord[],
  now: Date,
  config: UsageConfig,
  rejections: Map<number, UsageError>,
): Promise<Booking[]> {
  if (records.length === 0) return [];
  const anchors = await loadBillingAnchors(
    sql,
    records.map((r) => r.userId),
  );
  const current = new Map<string, BillingPeriod>();
  const bookings: Booking[] = [];
  for (const record of records) {
    const anchor = anchors.get(record.userId);
    const own = periodAt(anchor, record.occurredAt, config);
    if (own.end.getTime() + config.lateGraceMs > now.getTime()) {
      bookings.push({ record, period: own, originalPeriodStart: null });
      continue;
    }
    if (config.latePolicy === 'reject') {
      rejections.set(record.index, 'period_closed');
      continue;
    }
    let period = current.get(record.userId);
    if (!period) {
      period = periodAt(anchor, now, config);
      current.set(record.userId, period);
    }
    bookings.push({ record, period, originalPeriodStart: own.start });
  }
  return bookings;
}

/** (user_id, idempotency_key) pairs of `records` that are already in the ledger. */
async function existingKeys(
  q: Query,
  records: { userId: string; idempotencyKey: string }[],
): Promise<Set<string>> {
  if (records.length === 0) return new Set();
  const rows = await q<{ user_id: string; idempotency_key: string }[]>`
    select l.user_id, l.idempotency_key
    from unnest(${records.map((r) => r.userId)}::text[], ${records.map((r) => r.idempotencyKey)}::text[]) as k(user_id, idempotency_key)
    join usage_ledger l on l.user_id = k.user_id and l.idempotency_key = k.idempotency_key`;
  return new Set(rows.map((row) => pairKey(row.user_id, row.idempotency_key)));
}

/**
 * Step 3, inside the batch's transaction. The advisory locks (taken in a fixed order) make
 * concurrent corrections of one original wait for each other, so together they can never
 * take it below zero.
 */
async function checkCorrections(
  q: Query,
  bookings: Booking[],
  rejections: Map<number, UsageError>,
): Promise<Booking[]> {
  const corrections = bookings.filter((b) => b.record.correctsKey !== null);
  const originals = [
    ...new Map(
      corrections.map((b) => [pairKey(b.record.userId, b.record.correctsKey!), b.record]),
    ).values(),
  ].sort((a, b) => compare(pairKey(a.userId, a.correctsKey!), pairKey(b.userId, b.correctsKey!)));
  for (const record of originals) {
    await q`select pg_advisory_xact_lock(${CORRECTION_LOCK_CLASS}::int, hashtext(${record.userId} || '/' || ${record.correctsKey!}))`;
  }
  const users = originals.map((r) => r.userId);
  const keys = originals.map((r) => r.correctsKey!);
  const found = await q<
    {
      user_id: string;
      idempotency_key: string;
      metric: string;
      quantity: string;
      corrects_key: string | null;
      corrected: string;
    }[]
  >`
    select l.user_id, l.idempotency_key, l.metric, l.quantity::text, l.corrects_key,
           coalesce((select sum(c.quantity) from usage_ledger c
                     where c.user_id = l.user_id and c.corrects_key = l.idempotency_key), 0)::text as corrected
    from unnest(${users}::text[], ${keys}::text[]) as k(user_id, idempotency_key)
    join usage_ledger l on l.user_id = k.user_id and l.idempotency_key = k.idempotency_key`;
  const byKey = new Map(found.map((row) => [pairKey(row.user_id, row.idempotency_key), row]));
  // A correction that is itself already stored is a retry: leave it to ON CONFLICT.
  const stored = await existingKeys(
    q,
    corrections.map((b) => b.record),
  );
  const remaining = new Map<string, number>();
  for (const b of corrections) {
    const { record } = b;
    if (stored.has(pairKey(record.userId, record.idempotencyKey))) continue;
    const original = byKey.get(pairKey(record.userId, record.correctsKey!));
    let error: UsageError | undefined;
    if (!original) error = 'correction_target_not_found';
    else if (original.corrects_key !== null) error = 'correction_of_correction';
    else if (original.metric !== record.metric) error = 'correction_metric_mismatch';
    else {
      const key = pairKey(record.userId, record.correctsKey!);
      const left = remaining.get(key) ?? Number(original.quantity) + Number(original.corrected);
      if (left + record.quantity < 0) error = 'correction_exceeds_original';
      else remaining.set(key, left + record.quantity);
    }
    if (error) rejections.set(record.index, error);
  }
  return bookings.filter((b) => !rejections.has(b.record.index));
}

/** Step 4: one check-and-reserve per (user, metric, period) counter. */
async function reserveAll(
  sql: Sql,
  limiter: UsageLimiter,
  bookings: Booking[],
  rejections: Map<number, UsageError>,
  now: Date,
  config: UsageConfig,
): Promise<Reservation[]> {
  const groups = new Map<string, Booking[]>();
  for (const b of bookings) {
    if (b.record.quantity <= 0) continue; // corrections and zero records never need room
    const key = `${b.record.metric}\u0000${b.period.start.getTime()}\u0000${b.record.userId}`;
    const group = groups.get(key);
    if (group) group.push(b);
    else groups.set(key, [b]);
  }
  const reservations: Reservation[] = [];
  // allSettled, not all: every group must have finished before a failure releases what the
  // others reserved, or a late one would keep its units forever.
  const settled = await inLanes([...groups.values()], RESERVE_CONCURRENCY, async (group) => {
    const first = group[0]!;
    const limit = await limiter.limitOf(first.record.userId, first.record.metric);
    const { admitted, reservation } = await reserve(
      sql,
      limiter,
      {
        userId: first.record.userId,
        metric: first.record.metric,
        periodStart: first.period.start,
        periodEnd: first.period.end,
        limit,
        quantities: group.map((b) => b.record.quantity),
      },
      { now, lateGraceMs: config.lateGraceMs },
    );
    group.forEach((b, i) => {
      if (admitted[i]) {
        reservations.push({
          userId: b.record.userId,
          metric: b.record.metric,
          periodStart: b.period.start,
          quantity: b.record.quantity,
          index: b.record.index,
          reservation,
        });
      } else {
        rejections.set(b.record.index, 'limit_exceeded');
      }
    });
  });
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) {
    await settleAll(limiter, releasesOf(reservations));
    throw failure.reason;
  }
  return reservations;
}

/** Counters checked at once: a batch of 1,000 users must not open 1,000 plan lookups. */
const RESERVE_CONCURRENCY = 16;

/** Runs `task` over `items`, at most `limit` at a time, and waits for every one to settle. */
async function inLanes<T>(
  items: T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<PromiseSettledResult<void>[]> {
  const results: PromiseSettledResult<void>[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await task(item);
        results.push({ status: 'fulfilled', value: undefined });
      } catch (reason) {
        results.push({ status: 'rejected', reason });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

const counterOf = (userId: string, metric: string, periodStart: Date) =>
  `${metric}\u0000${periodStart.getTime()}\u0000${userId}`;

/** Gives back reservations whose records were not stored (settles with nothing stored). */
function releasesOf(reservations: Reservation[]): Settlement[] {
  const byCounter = new Map<string, Settlement>();
  for (const r of reservations) {
    const key = counterOf(r.userId, r.metric, r.periodStart);
    const settlement = byCounter.get(key) ?? {
      userId: r.userId,
      metric: r.metric,
      periodStart: r.periodStart,
      reservation: r.reservation,
      stored: 0,
      reserved: 0,
    };
    settlement.reserved += r.quantity;
    byCounter.set(key, settlement);
  }
  return [...byCounter.values()];
}

/** Settles counters. Best effort: a failure only shows up as drift, which the check corrects. */
async function settleAll(limiter: UsageLimiter, settlements: Settlement[]): Promise<void> {
  await Promise.all(
    settlements.map(async (settlement) => {
      try {
        await settleCounter(limiter, settlement);
      } catch (error) {
        log.warn(
          { err: error, userId: settlement.userId, metric: settlement.metric },
          'usage counter settle failed (counter drift)',
        );
      }
    }),
  );
}

/**
 * Step 6, after commit, the same for every write: one settle per counter touched, with what
 * was reserved on it (and under which reservation id), what was stored and the rows' transaction id.
 */
async function followCounters(
  limiter: UsageLimiter,
  stored: NonNullable<Outcome['stored']>,
): Promise<void> {
  const { inserted, txid, candidates, reservations } = stored;
  const byCounter = new Map<string, Settlement>();
  const settlementOf = (userId: string, metric: string, periodStart: Date) => {
    const key = counterOf(userId, metric, periodStart);
    let settlement = byCounter.get(key);
    if (!settlement) {
      settlement = { userId, metric, periodStart, txid, stored: 0, reserved: 0 };
      byCounter.set(key, settlement);
    }
    return settlement;
  };
  for (const r of reservations) {
    const settlement = settlementOf(r.userId, r.metric, r.periodStart);
    settlement.reservation = r.reservation;
    settlement.reserved += r.quantity;
  }
  for (const b of candidates) {
    if (!inserted.has(pairKey(b.record.userId, b.record.idempotencyKey))) continue;
    settlementOf(b.record.userId, b.record.metric, b.period.start).stored += b.record.quantity;
  }
  await settleAll(limiter, [...byCounter.values()]);
}

/** Step 5. Returns the (user, key) pairs that were inserted, and their transaction id. */
async function insertRows(
  q: Query,
  bookings: Booking[],
): Promise<{ inserted: Set<string>; txid: string | undefined }> {
  if (bookings.length === 0) return { inserted: new Set(), txid: undefined };
  // A fixed order (user, key) for every writer: two batches sharing keys then wait for each
  // other in the same order instead of deadlocking on the unique index.
  // Times travel as ISO text and are cast in SQL: the client may be the one Drizzle wraps,
  // which turns off postgres.js' own timestamp serialisation.
  const rows = [...bookings].sort((a, b) =>
    compare(
      pairKey(a.record.userId, a.record.idempotencyKey),
      pairKey(b.record.userId, b.record.idempotencyKey),
    ),
  );
  const result = await q<{ user_id: string; idempotency_key: string; txid: string }[]>`
    insert into usage_ledger
      (user_id, metric, quantity, occurred_at, period_start, original_period_start, idempotency_key, corrects_key, metadata)
    select t.user_id, t.metric, t.quantity, t.occurred_at::timestamptz, t.period_start::timestamptz,
           t.original_period_start::timestamptz,
           t.idempotency_key, t.corrects_key, t.metadata::jsonb
    from unnest(
      ${rows.map((b) => b.record.userId)}::text[],
      ${rows.map((b) => b.record.metric)}::text[],
      ${rows.map((b) => String(b.record.quantity))}::int8[],
      ${rows.map((b) => b.record.occurredAt.toISOString())}::text[],
      ${rows.map((b) => b.period.start.toISOString())}::text[],
      ${rows.map((b) => b.originalPeriodStart?.toISOString() ?? null)}::text[],
      ${rows.map((b) => b.record.idempotencyKey)}::text[],
      ${rows.map((b) => b.record.correctsKey)}::text[],
      ${rows.map((b) => (b.record.metadata ? JSON.stringify(b.record.metadata) : null))}::text[]
    ) with ordinality as t(user_id, metric, quantity, occurred_at, period_start, original_period_start,
                           idempotency_key, corrects_key, metadata, ord)
    order by t.ord
    on conflict (user_id, idempotency_key) do nothing
    returning user_id, idempotency_key, txid::text`;
  return {
    inserted: new Set(result.map((row) => pairKey(row.user_id, row.idempotency_key))),
    txid: result[0]?.txid,
  };
}

function sortedRejections(rejections: Map<number, UsageError>): RecordRejection[] {
  return [...rejections]
    .map(([index, error]) => ({ index, error }))
    .sort((a, b) => a.index - b.index);
}

function atomicRejection(total: number, rejections: Map<number, UsageError>): IngestResult {
  const rejected: RecordRejection[] = [];
  for (let index = 0; index < total; index++) {
    rejected.push({ index, error: rejections.get(index) ?? 'batch_rejected' });
  }
  return { accepted: 0, duplicates: 0, rejected, affectedUserIds: [] };
}
