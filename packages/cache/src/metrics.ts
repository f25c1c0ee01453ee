import { Counter, Gauge, type Registry } from 'prom-client';
import { ENTRY_KINDS } from './keys.js';

export type CacheTier = 'l1' | 'l2';

export interface CacheMetrics {
  lookup(tier: CacheTier, result: 'hit' | 'miss', entry: string): void;
  /** A loader ran (Postgres or Stripe was asked). */
  load(entry: string): void;
  /** Redis could not be used; the read fell through to the loader. */
  degraded(op: 'read' | 'write' | 'invalidate' | 'subscribe'): void;
  invalidationReceived(scope: string): void;
}

function counter<T extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: T[],
): Counter<T> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<T>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** Registers the cache's counters on `registry` (idempotent: a second cache shares them). */
export function createCacheMetrics(registry: Registry, l1Size: () => number): CacheMetrics {
  const lookups = counter(
    registry,
    'billing_cache_lookups_total',
    'Cache lookups by tier (l1 in-process, l2 Redis), result and entry kind',
    ['tier', 'result', 'entry'],
  );
  const loads = counter(
    registry,
    'billing_cache_loads_total',
    'Cache misses that ran the loader (one per single-flight group), by entry kind',
    ['entry'],
  );
  const degraded = counter(
    registry,
    'billing_cache_degraded_total',
    'Cache operations that could not use Redis and fell back (reads go to Postgres), by operation',
    ['op'],
  );
  const invalidations = counter(
    registry,
    'billing_cache_invalidations_received_total',
    'Invalidation messages received on the pub/sub channel, by scope',
    ['scope'],
  );
  // Every known series is exported at 0 from the start: "Cache degraded ops", the hit ratio
  // and the lookup panels read 0 on a fresh process rather than "No data".
  for (const op of ['read', 'write', 'invalidate', 'subscribe'] as const) degraded.inc({ op }, 0);
  for (const entry of ENTRY_KINDS) {
    loads.inc({ entry }, 0);
    for (const tier of ['l1', 'l2'] as const) {
      for (const result of ['hit', 'miss'] as const) lookups.inc({ tier, result, entry }, 0);
    }
  }
  for (const scope of ['all', 'usage'] as const) invalidations.inc({ scope }, 0);
  if (!registry.getSingleMetric('billing_cache_l1_entries')) {
    new Gauge({
      name: 'billing_cache_l1_entries',
      help: 'Entries currently held in the in-process (L1) cache',
      registers: [registry],
      collect() {
        this.set(l1Size());
      },
    });
  }
  return {
    lookup: (tier, result, entry) => lookups.inc({ tier, result, entry }),
    load: (entry) => loads.inc({ entry }),
    degraded: (op) => degraded.inc({ op }),
    invalidationReceived: (scope) => invalidations.inc({ scope }),
  };
}

export const noopCacheMetrics: CacheMetrics = {
  lookup: () => {},
  load: () => {},
  degraded: () => {},
  invalidationReceived: () => {},
};
