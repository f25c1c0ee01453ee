import type { Sql, TransactionSql } from 'postgres';
import type { Executor } from '../context.js';
import { DatabaseError } from '../errors.js';
import type { SqlRunner } from './statement.js';

/**
 * Runs the batch statements on a postgres.js connection or transaction as prepared
 * statements (the texts are fixed, so each is parsed and planned once per connection). A
 * driver error is wrapped with its SQLSTATE kept (`code`, and the driver error as `cause`).
 */
export function sqlRunner(sql: Sql | TransactionSql): SqlRunner {
  return {
    async query<T>(text: string, params: readonly unknown[]) {
      try {
        return (await sql.unsafe(text, params as never[], { prepare: true })) as unknown as T[];
      } catch (error) {
        throw DatabaseError.wrap(error);
      }
    },
  };
}

/**
 * The same over a Drizzle database or transaction (the cold callers: backfill, tests), through
 * the postgres.js client Drizzle runs on.
 */
export function executorRunner(executor: Executor): SqlRunner {
  return sqlRunner(postgresClientOf(executor));
}

/** The postgres.js client (pool, or the open transaction) under a Drizzle postgres-js executor. */
export function postgresClientOf(executor: Executor): Sql {
  const session = (executor as unknown as { session?: { client?: Sql } }).session;
  const client = session?.client ?? (executor as unknown as { $client?: Sql }).$client;
  if (!client || typeof client.unsafe !== 'function')
    throw new TypeError('needs a Drizzle postgres-js database or transaction');
  return client;
}
