import type { Sql } from '@billing/db';
import type { Logger } from '@billing/logger';
import { createUsageDriftMetrics, measureAllDrift, type RedisLike } from '@billing/usage';
import type { Registry } from 'prom-client';

/**
 * Compares every Redis limit counter with the exact Postgres figure every `intervalMs` and
 * publishes the result as gauges (see @billing/usage createUsageDriftMetrics).
 */
export function startDriftMonitor(options: {
  sql: Sql;
  redis: RedisLike;
  prefix: string;
  registry: Registry;
  logger: Logger;
  intervalMs: number;
}): { stop(): Promise<void>; measure(): Promise<void> } {
  const metrics = createUsageDriftMetrics(options.registry);
  const log = options.logger.child({ module: 'usage-drift' });
  let running: Promise<void> | undefined;
  const measure = () => {
    running ??= (async () => {
      try {
        const samples = await measureAllDrift(options.sql, {
          redis: options.redis,
          prefix: options.prefix,
        });
        metrics.record(samples);
        const worst = samples.reduce((max, s) => Math.max(max, Math.abs(s.drift ?? 0)), 0);
        if (worst > 0)
          log.info({ counters: samples.length, worst }, 'usage limit counters drift from Postgres');
      } catch (error) {
        log.warn({ err: error }, 'usage drift measurement failed');
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => void measure(), options.intervalMs);
  timer.unref();
  return {
    measure,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
