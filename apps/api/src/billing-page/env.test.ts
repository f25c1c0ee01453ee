import { describe, expect, it } from 'vitest';
import { billingPageConfig } from './env.js';
import { isLoopback } from './router.js';

const simulator = {
  STRIPE_SIMULATOR: 'true',
  STRIPE_API_BASE: 'http://127.0.0.1:12111',
  STRIPE_SECRET_KEY: 'sk_test_simulator',
};

describe('billing page configuration', () => {
  it('is in API-key mode unless STRIPE_SIMULATOR is set', () => {
    expect(billingPageConfig({})).toEqual({ simulator: false, origins: [] });
    expect(billingPageConfig({ STRIPE_SIMULATOR: 'false' })).toEqual({
      simulator: false,
      origins: [],
    });
  });

  it('turns simulator mode on with a loopback STRIPE_API_BASE and a test key', () => {
    expect(billingPageConfig(simulator)).toEqual({ simulator: true, origins: [] });
    expect(billingPageConfig({ ...simulator, STRIPE_API_BASE: 'http://localhost:9' })).toEqual({
      simulator: true,
      origins: [],
    });
  });

  it('refuses simulator mode with NODE_ENV=production', () => {
    expect(() => billingPageConfig({ ...simulator, NODE_ENV: 'production' })).toThrow(
      /STRIPE_SIMULATOR: must not be set with NODE_ENV=production/,
    );
  });

  it('refuses simulator mode when STRIPE_API_BASE is missing or not loopback (tried api.stripe.com)', () => {
    expect(() => billingPageConfig({ STRIPE_SIMULATOR: 'true' })).toThrow(/loopback/);
    expect(() =>
      billingPageConfig({ ...simulator, STRIPE_API_BASE: 'https://api.stripe.com' }),
    ).toThrow(/loopback/);
  });

  it('refuses simulator mode with a live key (tried sk_live_…)', () => {
    expect(() => billingPageConfig({ ...simulator, STRIPE_SECRET_KEY: 'sk_live_abc' })).toThrow(
      /test key/,
    );
  });

  it('rejects a malformed flag (tried "yes")', () => {
    expect(() => billingPageConfig({ STRIPE_SIMULATOR: 'yes' })).toThrow(/STRIPE_SIMULATOR/);
  });
});

describe('loopback check of simulator-mode routes', () => {
  it('accepts only connections from this machine', () => {
    for (const address of ['127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.1'])
      expect(isLoopback(address)).toBe(true);
    for (const address of ['10.0.0.5', '192.168.1.2', '::ffff:10.0.0.5', 'fe80::1', undefined]) {
      expect(isLoopback(address)).toBe(false);
    }
  });
});
