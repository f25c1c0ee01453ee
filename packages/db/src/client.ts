import { type DbEnv, dbEnv } from '@billing/config';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.js';

export type Database = PostgresJsDatabase<typeof schema>;
export type Sql = postgres.Sql;

export interface DbHandle {
  db: Database;
  sql: Sql;
  close(): Promise<void>;
}

export interface CreateDbOptions {
  url?: string;
  max?: number;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
  /**
   * Postgres `lock_timeout` (ms) of every connection of the pool, sent as a startup parameter:
   * it holds for every statement without a `SET` round trip per transaction.
   */
  lockTimeoutMs?: number;
}

/** lock_timeout (ms) the connections of a pool made by createDb start with. */
const poolLockTimeouts = new WeakMap<Database, number>();

/** One postgres.js pool and a Drizzle instance over it. */
export function createDb(options: CreateDbOptions = {}, env: DbEnv = dbEnv()): DbHandle {
  const sql = postgres(options.url ?? env.DATABASE_URL, {
    max: options.max ?? env.DB_POOL_MAX,
    onnotice: () => {},
    connection: {
      application_name: options.applicationName ?? 'billing',
      ...(options.lockTimeoutMs ? { lock_timeout: options.lockTimeoutMs } : {}),
    },
  });
  const db = drizzle(sql, { schema });
  if (options.lockTimeoutMs) poolLockTimeouts.set(db, options.lockTimeoutMs);
  return {
    db,
    sql,
    close: () => sql.end({ timeout: 5 }),
  };
}

/**
 * The `lock_timeout` (ms) every connection of this pool starts with, when it was made by
 * `createDb({ lockTimeoutMs })`; undefined otherwise (a caller that needs one then sets it
 * per transaction).
 */
export function poolLockTimeoutMs(db: Database): number | undefined {
  return poolLockTimeouts.get(db);
}
