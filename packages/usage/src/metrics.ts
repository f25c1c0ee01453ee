import { Counter, Gauge, type Registry } from 'prom-client';
import type { DriftCorrection, DriftSample } from './limiter.js';

export interface UsageDriftMetrics {
  /** Replaces the gauges with the figures of one measurement round. */
  record(samples: readonly DriftSample[]): void;
  /** Counts the counters the check re-seeded. */
  corrected(corrections: readonly DriftCorrection[]): void;
}

/**
 * Prometheus gauges for the Redis-vs-Postgres drift of the limit counters, per metric:
 * - `usage_limit_drift_units`: sum of |redis − postgres| over the counters measured;
 * - `usage_limit_drift_max_units`: the largest signed drift (positive = Redis stricter);
 * - `usage_limit_drift_min_units`: the smallest signed drift (negative = Redis more lenient,
 *   the dangerous direction);
 * - `usage_limit_counters`: how many counters were measured;
 * - `usage_limit_drift_corrections_total`: counters found drifting twice and re-seeded.
 */
export function createUsageDriftMetrics(registry: Registry): UsageDriftMetrics {
  const labelNames = ['metric'] as const;
  const abs = new Gauge({
    name: 'usage_limit_drift_units',
    help: 'Sum of |Redis counter - exact Postgres usage| over the limit counters measured',
    labelNames,
    registers: [registry],
  });
  const max = new Gauge({
    name: 'usage_limit_drift_max_units',
    help: 'Largest signed drift (Redis - Postgres) of a limit counter',
    labelNames,
    registers: [registry],
  });
  const min = new Gauge({
    name: 'usage_limit_drift_min_units',
    help: 'Smallest signed drift (Redis - Postgres) of a limit counter; negative admits over the limit',
    labelNames,
    registers: [registry],
  });
  const counters = new Gauge({
    name: 'usage_limit_counters',
    help: 'Limit counters measured in the last drift round',
    labelNames,
    registers: [registry],
  });
  const corrections = new Counter({
    name: 'usage_limit_drift_corrections_total',
    help: 'Limit counters found drifting from Postgres twice under one version and re-seeded',
    labelNames,
    registers: [registry],
  });
  return {
    corrected(list) {
      for (const c of list) if (c.corrected) corrections.inc({ metric: c.sample.metric });
    },
    record(samples) {
      for (const gauge of [abs, max, min, counters]) gauge.reset();
      const byMetric = new Map<string, number[]>();
      for (const sample of samples) {
        if (sample.drift === null) continue;
        const list = byMetric.get(sample.metric) ?? [];
        list.push(sample.drift);
        byMetric.set(sample.metric, list);
      }
      for (const [metric, drifts] of byMetric) {
        abs.set(
          { metric },
          drifts.reduce((sum, d) => sum + Math.abs(d), 0),
        );
        max.set({ metric }, Math.max(...drifts));
        min.set({ metric }, Math.min(...drifts));
        counters.set({ metric }, drifts.length);
      }
    },
  };
}
