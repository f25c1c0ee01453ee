import { type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../context.js';

/**
 * The customer's transaction-scoped advisory lock as an SQL expression, for a cold caller
 * that takes it inside a statement of its own. The batch writer locks the same keys
 * (`billing:customer:<id>`) with LOCK_KEYS_STATEMENT, so both serialise on one lock.
 */
export function customerLockSql(customerId: string): SQL {
  return sql`pg_advisory_xact_lock(hashtextextended(${`billing:customer:${customerId}`}, 0))`;
}

/** Serialises every write about one customer (all of its objects) inside the transaction. */
export async function lockCustomer(tx: Executor, customerId: string): Promise<void> {
  await tx.execute(sql`select ${customerLockSql(customerId)}`);
}
