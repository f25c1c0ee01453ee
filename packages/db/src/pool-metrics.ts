import { moduleLogger } from '@billing/logger';
import { TimeoutError, withTimeout } from '@billing/runtime/timeout';
import { Gauge, type Registry } from 'prom-client';
import type { Sql } from './client.js';

export interface DbPoolMetricsOptions {
  sql: Sql;
  /** The pool's `max` (DB_POOL_MAX). */
  max: number;
  /** The `application_name` the pool connects with (createDb's `applicationName`). */
  applicationName: string;
}

/**
 * Registers `billing_db_pool_connections{state}` (open, busy) and `billing_db_pool_max`.
 * postgres.js keeps its pool state private, so the numbers come from Postgres itself:
 * backends of this process's pool, found by `application_name`, that are open and that are
 * busy (running a statement or idle in a transaction). Give each process a distinct
 * application name (e.g. `api:<hostname>:<pid>`) for per-process values. When no
 * connection is free within a second the pool is saturated: busy is reported as max.
 */
export function dbPoolMetrics(registry: Registry, options: DbPoolMetricsOptions): void {
  const log = moduleLogger('db.metrics');
  new Gauge({
    name: 'billing_db_pool_max',
    help: 'Connections the Postgres pool may open (DB_POOL_MAX)',
    registers: [registry],
    collect() {
      this.set(options.max);
    },
  });
  new Gauge({
    name: 'billing_db_pool_connections',
    help: 'Connections of the Postgres pool by state (open, busy); busy/max is the pool use',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      try {
        const rows = await withTimeout(
          options.sql<{ open: number; busy: number }[]>`
            select count(*)::int as open,
                   count(*) filter (where state <> 'idle')::int as busy
            from pg_stat_activity
            where application_name = ${options.applicationName}
              and pid <> pg_backend_pid()`,
          1_000,
        );
        const row = rows[0] ?? { open: 0, busy: 0 };
        // The scrape's own connection is excluded from the counts but is in use right now.
        this.set({ state: 'open' }, row.open + 1);
        this.set({ state: 'busy' }, row.busy);
      } catch (error) {
        if (error instanceof TimeoutError) {
          this.set({ state: 'open' }, options.max);
          this.set({ state: 'busy' }, options.max);
          return;
        }
        log.warn({ err: error }, 'postgres pool use unavailable');
      }
    },
  });
}
