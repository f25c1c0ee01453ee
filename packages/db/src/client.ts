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
}

/** One postgres.js pool and a Drizzle instance over it. */
export function createDb(options: CreateDbOptions = {}, env: DbEnv = dbEnv()): DbHandle {
  const sql = postgres(options.url ?? env.DATABASE_URL, {
    max: options.max ?? env.DB_POOL_MAX,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'billing' },
  });
  const db = drizzle(sql, { schema });
  return {
    db,
    sql,
    close: () => sql.end({ timeout: 5 }),
  };
}
