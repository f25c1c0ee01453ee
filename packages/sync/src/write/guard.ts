import { getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { PgColumn, PgTable, PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Executor, SyncContext, WriteSource } from '../context.js';

/** The stale-write guard columns every synced row carries (`stripeSyncColumns()`). */
export interface StampColumns {
  account: string | null;
  livemode: boolean;
  lastEventId: string;
  lastEventCreated: Date;
  lastEventRank: number;
}

export const stampOf = (source: WriteSource, rank: number, livemode?: boolean): StampColumns => ({
  account: source.account,
  livemode: livemode ?? source.livemode,
  lastEventId: source.eventId,
  lastEventCreated: source.created,
  lastEventRank: rank,
});

type SyncedTable = PgTable & {
  lastEventCreated: PgColumn;
  lastEventRank: PgColumn;
  lastEventId: PgColumn;
  syncedAt: PgColumn;
};

/**
 * `SET col = excluded.col` for every column the row provides (undefined = keep the stored
 * value), `coalesce(excluded.col, stored)` for the `keep` columns (null in the payload
 * must not erase a value learnt elsewhere, e.g. the user link), and `synced_at = now()`.
 */
export function excludedSet<T extends SyncedTable>(
  table: T,
  row: Record<string, unknown>,
  options: { key: PgColumn; keep?: readonly string[] },
): PgUpdateSetSource<T> {
  const set: Record<string, SQL> = {};
  for (const [name, column] of Object.entries(getTableColumns(table) as Record<string, PgColumn>)) {
    if (column === options.key || row[name] === undefined) continue;
    const excluded = sql.raw(`excluded."${column.name}"`);
    set[name] = options.keep?.includes(name) ? sql`coalesce(${excluded}, ${column})` : excluded;
  }
  set.syncedAt = sql`now()`;
  return set as PgUpdateSetSource<T>;
}

/**
 * The stale-write guard as the ON CONFLICT … DO UPDATE condition: the incoming write wins
 * only if its (created, rank) is greater than the stored one. With `tieWins`, an exact tie
 * with a different event also wins (last arrival wins); the same event never re-applies.
 */
export function newerThanStored(table: SyncedTable, tieWins: boolean): SQL {
  const incoming = sql`(excluded.last_event_created, excluded.last_event_rank)`;
  const stored = sql`(${table.lastEventCreated}, ${table.lastEventRank})`;
  if (!tieWins) return sql`${incoming} > ${stored}`;
  return sql`(${incoming} > ${stored} or (${incoming} = ${stored} and excluded.last_event_id <> ${table.lastEventId}))`;
}

export type GuardOutcome = 'applied' | 'stale' | 'tie';

/**
 * After an upsert that changed nothing, tells a stale write (a newer or the same event is
 * stored) from an exact tie with another event. ON CONFLICT locked the row, so this read
 * sees what the guard compared against.
 */
export async function staleOrTie(
  tx: Executor,
  table: SyncedTable,
  key: PgColumn,
  keyValue: string,
  stamp: StampColumns,
): Promise<'stale' | 'tie'> {
  const rows = await tx.execute<{ tie: boolean }>(sql`
    select (${table.lastEventCreated} = ${stamp.lastEventCreated.toISOString()}::timestamptz
            and ${table.lastEventRank} = ${stamp.lastEventRank}
            and ${table.lastEventId} <> ${stamp.lastEventId}) as tie
    from ${table} where ${key} = ${keyValue}`);
  return rows[0]?.tie === true ? 'tie' : 'stale';
}

/**
 * The customer's transaction-scoped advisory lock as an SQL expression, so a caller can take
 * it inside a statement it runs anyway (the worker's claim) instead of in one of its own.
 */
export function customerLockSql(customerId: string): SQL {
  return sql`pg_advisory_xact_lock(hashtextextended(${`billing:customer:${customerId}`}, 0))`;
}

/** Serialises every write about one customer (all of its objects) inside the transaction. */
export async function lockCustomer(tx: Executor, customerId: string): Promise<void> {
  await tx.execute(sql`select ${customerLockSql(customerId)}`);
}

/**
 * What every writer calls: takes the customer lock unless the caller says it already holds
 * it (`ctx.lockedCustomerId`, same customer). Holding it twice would be harmless; this only
 * saves the round trip.
 */
export async function holdCustomerLock(ctx: SyncContext, customerId: string): Promise<void> {
  if (ctx.lockedCustomerId === customerId) return;
  await lockCustomer(ctx.tx, customerId);
}
