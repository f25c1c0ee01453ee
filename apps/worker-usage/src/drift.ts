import type { Sql } from '@billing/db';
import type { Logger } from '@billing/logger';
import {
  correctDrift,
  createUsageDriftMetrics,
  measureAllDrift,
  type RedisLike,
} from '@billing/usage';
import type { Registry } from 'prom-client';

/**
 * Compares every Redis limit counter with the exact Postgres figure every `intervalMs`,
 * publishes the result as gauges (see @billing/usage createUsageDriftMetrics), and corrects
 * a counter still drifting when measured again `confirmMs` later under the same version
 * (re-seeded from Postgres; logged and counted).
 */
export function startDriftMonitor(options: {
  sql: Sql;
  redis: RedisLike;
  prefix: string;
  registry: Registry;
  logger: Logger;
  intervalMs: number;
  /** Pause before a drifting counter is measured again; in-flight writes settle meanwhile. */
  confirmMs?: number;
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
        const corrections = await correctDrift(
          options.sql,
          { redis: options.redis, prefix: options.prefix },
          samples,
          { confirmMs: options.confirmMs },
        );
        metrics.corrected(corrections);
        for (const { sample, corrected } of corrections) {
          if (!corrected) continue;
          log.warn(
            {
              userId: sample.userId,
              metric: sample.metric,
              periodStart: sample.periodStart,
              redis: sample.redis,
              postgres: sample.postgres,
              drift: sample.drift,
            },
            'usage limit counter drifted from Postgres; re-seeded',
          );
        }
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
