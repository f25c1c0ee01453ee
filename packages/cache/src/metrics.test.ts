import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
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
});
