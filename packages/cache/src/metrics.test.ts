import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ENTRY_KINDS, fields } from './keys.js';
import { createCacheMetrics } from './metrics.js';

describe('cache metrics on a healthy system', () => {
  it('export every degraded operation at 0, so "Cache degraded ops" reads 0, not "No data"', async () => {
    const registry = new Registry();
    createCacheMetrics(registry, () => 0);
    const text = await registry.metrics();
    for (const op of ['read', 'write', 'invalidate', 'subscribe']) {
      expect(text).toContain(`billing_cache_degraded_total{op="${op}"} 0`);
    }
  });

  it('export every lookup, load and invalidation series at 0 before the first request', async () => {
    const registry = new Registry();
    createCacheMetrics(registry, () => 0);
    const text = await registry.metrics();
    for (const entry of ENTRY_KINDS) {
      expect(text).toContain(`billing_cache_loads_total{entry="${entry}"} 0`);
      for (const tier of ['l1', 'l2']) {
        for (const result of ['hit', 'miss']) {
          expect(text).toContain(
            `billing_cache_lookups_total{tier="${tier}",result="${result}",entry="${entry}"} 0`,
          );
        }
      }
    }
    for (const scope of ['all', 'usage']) {
      expect(text).toContain(`billing_cache_invalidations_received_total{scope="${scope}"} 0`);
    }
  });

  it('know the entry kind of every per-user field (a new field family must be added to ENTRY_KINDS)', () => {
    const kinds: readonly string[] = ENTRY_KINDS;
    for (const field of [
      fields.subscription,
      fields.usage('api_calls'),
      fields.proration('pro', 'month'),
      fields.proration('pro', 'year', 1_700_000_000),
    ]) {
      expect(kinds).toContain(field.split(':')[0]);
    }
  });
});
