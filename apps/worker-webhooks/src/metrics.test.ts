import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createWorkerMetrics } from './metrics.js';

describe('worker metrics on a healthy, idle system', () => {
  it('export each outcome per handled event type at 0 before any event', async () => {
    const registry = new Registry();
    createWorkerMetrics(registry);
    const text = await registry.metrics();
    const type = 'invoice.paid';
    expect(text).toContain(`webhook_events_processed_total{type="${type}",outcome="processed"} 0`);
    expect(text).toContain(`webhook_events_failed_total{type="${type}",reason="permanent"} 0`);
    expect(text).toContain(`webhook_events_retried_total{type="${type}"} 0`);
    expect(text).toContain(`webhook_events_ordering_total{type="${type}",result="stale"} 0`);
    expect(text).toContain('webhook_cache_invalidation_failures_total 0');
  });
});
