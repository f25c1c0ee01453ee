import { describe, expect, it } from 'vitest';
import { DEFAULT_TARGETS, parseTargets, targetFor } from './targets.js';

describe('latency targets', () => {
  it('defaults: subscription 500, usage 300, upgrade 2000, checkout 1500, others 1000', () => {
    expect(targetFor(DEFAULT_TARGETS, 'GET /api/billing/subscription')).toBe(500);
    expect(targetFor(DEFAULT_TARGETS, 'GET /api/billing/usage')).toBe(300);
    expect(targetFor(DEFAULT_TARGETS, 'POST /api/billing/upgrade')).toBe(2_000);
    expect(targetFor(DEFAULT_TARGETS, 'POST /api/billing/create-checkout-session')).toBe(1_500);
    expect(targetFor(DEFAULT_TARGETS, 'GET /api/billing/plans')).toBe(1_000);
  });

  it('parses aliases, full routes and default over the defaults', () => {
    const targets = parseTargets('usage=250, GET /api/billing/plans=800, default=900');
    expect(targetFor(targets, 'GET /api/billing/usage')).toBe(250);
    expect(targetFor(targets, 'GET /api/billing/plans')).toBe(800);
    expect(targetFor(targets, 'GET /api/billing/overview')).toBe(900);
    expect(targetFor(targets, 'GET /api/billing/subscription')).toBe(500);
  });

  it('names an unknown target name', () => {
    expect(() => parseTargets('subscriptions=500')).toThrow(/"subscriptions": unknown target/);
  });

  it('names an entry whose value is not a positive whole number', () => {
    expect(() => parseTargets('usage=fast')).toThrow(/"usage=fast"/);
    expect(() => parseTargets('usage=0')).toThrow(/positive whole number/);
  });
});
