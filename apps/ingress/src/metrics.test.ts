import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createIngressMetrics } from './metrics.js';

describe('ingress metrics on a healthy, idle system', () => {
  it('export every outcome, failure reason and secret index at 0 before any delivery', async () => {
    const registry = new Registry();
    createIngressMetrics(registry, 2);
    const text = await registry.metrics();
    // The 5xx outcomes the "Ingress 5xx ratio" panel and alert select on.
    for (const outcome of ['queue_unavailable', 'queue_timeout', 'internal', 'accepted']) {
      expect(text).toContain(`ingress_webhook_requests_total{outcome="${outcome}"} 0`);
    }
    expect(text).toContain('ingress_webhook_verify_failures_total{reason="invalid_signature"} 0');
    expect(text).toContain('ingress_webhook_secret_matches_total{index="1"} 0');
  });
});
