import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { logEnv } from '@billing/config';
import { opsEnv } from '@billing/ops';
import { composeEnvironments } from '@billing/testing/compose';
import { usageEnv } from '@billing/usage';
import { describe, expect, it } from 'vitest';
import { billingPageConfig } from './billing-page/env.js';
import { loadApiConfig } from './env.js';

describe('API configuration', () => {
  it('defaults: port 3001, 100 kB bodies, per-credential limits, default targets', () => {
    const config = loadApiConfig({});
    expect(config.port).toBe(3001);
    expect(config.bodyLimitBytes).toBe(102_400);
    expect(config.opsToken).toBeUndefined();
    expect(config.stripeSecretKey).toBeUndefined();
    expect(config.rateLimit).toEqual({ windowMs: 60_000, user: 600, service: 60_000, ops: 600 });
    expect(config.latencyTargets.byEndpoint['GET /api/billing/usage']).toBe(300);
  });

  it('reads the shared names: API_PORT, BILLING_SERVICE_TOKEN, OPS_TOKEN, STRIPE_*, REDIS_*', () => {
    const config = loadApiConfig({
      API_PORT: '4000',
      BILLING_SERVICE_TOKEN: 'service-token-123',
      OPS_TOKEN: 'ops-token-123',
      STRIPE_SECRET_KEY: 'sk_test_123',
      STRIPE_API_BASE: 'http://127.0.0.1:12111',
      REDIS_PREFIX: '{billing}',
      CHECKOUT_ALLOWED_ORIGINS: 'https://app.example.com, https://www.example.com/path',
      BILLING_PORTAL_RETURN_URL: 'https://app.example.com/account/billing',
    });
    expect(config).toMatchObject({
      port: 4000,
      serviceToken: 'service-token-123',
      opsToken: 'ops-token-123',
      stripeSecretKey: 'sk_test_123',
      stripeApiBase: 'http://127.0.0.1:12111',
      redisPrefix: '{billing}',
      checkoutAllowedOrigins: ['https://app.example.com', 'https://www.example.com'],
      billingPortalReturnUrl: 'https://app.example.com/account/billing',
    });
  });

  it('BILLING_PORTAL_RETURN_URL: empty is unset; not an http(s) URL is refused, naming it', () => {
    expect(loadApiConfig({ BILLING_PORTAL_RETURN_URL: '' }).billingPortalReturnUrl).toBeUndefined();
    expect(() => loadApiConfig({ BILLING_PORTAL_RETURN_URL: 'app.example.com/billing' })).toThrow(
      /BILLING_PORTAL_RETURN_URL/,
    );
    expect(() => loadApiConfig({ BILLING_PORTAL_RETURN_URL: 'javascript:alert(1)' })).toThrow(
      /BILLING_PORTAL_RETURN_URL/,
    );
  });

  it('names API_LATENCY_TARGETS when an entry is bad', () => {
    expect(() => loadApiConfig({ API_LATENCY_TARGETS: 'usage=soon' })).toThrow(
      /API_LATENCY_TARGETS/,
    );
  });

  it('refuses a short OPS_TOKEN in production, naming it', () => {
    expect(() =>
      loadApiConfig({
        NODE_ENV: 'production',
        BILLING_SERVICE_TOKEN: 'x'.repeat(32),
        STRIPE_SECRET_KEY: 'sk_live_123',
        OPS_TOKEN: 'short-ops-token',
      }),
    ).toThrow(/OPS_TOKEN/);
  });

  it('production needs APP_ORIGIN (or CHECKOUT_ALLOWED_ORIGINS): checkout would refuse every URL', () => {
    const production = {
      NODE_ENV: 'production',
      BILLING_SERVICE_TOKEN: 'Zq8rT5mW2nB7vX4kL9pD3sF6hJ1gY0cE8u',
      STRIPE_SECRET_KEY: 'sk_live_123',
    };
    expect(() => loadApiConfig(production)).toThrow(/APP_ORIGIN: is required in production/);
    const config = loadApiConfig({ ...production, APP_ORIGIN: 'https://app.example.com/' });
    expect(config.checkoutAllowedOrigins).toEqual(['https://app.example.com']);
    expect(config.checkoutAllowLoopback).toBe(false);
  });

  it('names API_PORT when it is not a port', () => {
    expect(() => loadApiConfig({ API_PORT: 'http' })).toThrow(/API_PORT/);
  });
});

describe('api main.ts in production', () => {
  it('exits 1 with BILLING_SERVICE_TOKEN=aaaaaaaaaaaaaaaaaaaaaaaa, naming it, before touching Postgres', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'),
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'production',
        BILLING_SERVICE_TOKEN: 'a'.repeat(24),
        STRIPE_SECRET_KEY: 'sk_live_123',
        APP_ORIGIN: 'https://app.example.com',
        // Unreachable on purpose: a start that got past config would fail differently.
        DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/BILLING_SERVICE_TOKEN: is too predictable/);
  }, 60_000);
});

describe('the environment docker compose gives the api service', () => {
  it.each(composeEnvironments('api'))('is accepted by every loader (%s)', (_label, env) => {
    const config = loadApiConfig(env);
    expect(config.port).toBe(3001);
    expect(config.opsToken).toBeUndefined();
    // No key: the compose simulator service stands in for Stripe.
    expect(config.stripeSecretKey).toBe('sk_test_simulator');
    expect(config.stripeApiBase).toBe('http://stripe-simulator:12111');
    expect(() => usageEnv(env)).not.toThrow();
    expect(() => opsEnv(env)).not.toThrow();
    expect(billingPageConfig(env)).toEqual({ simulator: false, origins: [] });
    expect(() => logEnv(env)).not.toThrow();
  });
});
