import type { Sql } from '@billing/db';
import { moduleLogger } from '@billing/logger';
import type { Queue } from 'bullmq';
import { Counter, Gauge, type Registry } from 'prom-client';

/** The job states reported per queue. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * Registers `billing_queue_jobs{queue,state}`: the number of jobs per queue in each of
 * waiting/active/delayed/failed, read with one `getJobCounts` per queue on every scrape (so
 * the numbers are as fresh as the scrape, and nothing polls Redis between scrapes).
 * A queue whose Redis does not answer keeps its last values and counts a scrape error,
 * rather than failing the whole /metrics response.
 */
export function queueMetrics(registry: Registry, queues: Queue[]): void {
  const log = moduleLogger('ops.metrics');
  const errors = new Counter({
    name: 'billing_queue_metrics_errors_total',
    help: 'Scrapes that could not read the job counts of a queue',
    labelNames: ['queue'],
    registers: [registry],
  });
  for (const queue of queues) errors.inc({ queue: queue.name }, 0);
  new Gauge({
    name: 'billing_queue_jobs',
    help: 'Jobs per queue and state (waiting, active, delayed, failed), read on scrape',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      await Promise.all(
        queues.map(async (queue) => {
          try {
            const counts = await withTimeout(queue.getJobCounts(...QUEUE_STATES), 2_000);
            for (const state of QUEUE_STATES) {
              this.set({ queue: queue.name, state }, counts[state] ?? 0);
            }
          } catch (error) {
            errors.inc({ queue: queue.name });
            log.warn({ err: error, queue: queue.name }, 'queue job counts unavailable');
          }
        }),
      );
    },
  });
}

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
  const log = moduleLogger('ops.metrics');
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

class TimeoutError extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
