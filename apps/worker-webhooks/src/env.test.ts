import { ConfigError } from '@billing/config';
import { shutdownEnv } from '@billing/runtime';
import { composeEnvironments } from '@billing/testing/compose';
import { describe, expect, it } from 'vitest';
import { workerEnv } from './env.js';

describe('workerEnv', () => {
  it('defaults to port 3002, 256 active jobs in batches of 100 / 5 ms, two in flight, no re-fetch and tie re-fetch on', () => {
    const env = workerEnv({});
    expect(env.WORKER_WEBHOOKS_PORT).toBe(3002);
    expect(env.WEBHOOK_CONCURRENCY).toBe(256);
    expect(env.WEBHOOK_BATCH_SIZE).toBe(100);
    expect(env.WEBHOOK_BATCH_WINDOW_MS).toBe(5);
    expect(env.WEBHOOK_BATCHES_IN_FLIGHT).toBe(2);
    expect([...env.STRIPE_REFETCH_OBJECTS]).toEqual([]);
    expect(env.WEBHOOK_REFETCH_ON_TIE).toBe(true);
  });

  it('reads STRIPE_REFETCH_OBJECTS as a set of object families', () => {
    const env = workerEnv({ STRIPE_REFETCH_OBJECTS: 'subscription, invoice' });
    expect([...env.STRIPE_REFETCH_OBJECTS].sort()).toEqual(['invoice', 'subscription']);
  });

  it('names the variable for an unknown family (tried: STRIPE_REFETCH_OBJECTS=subscriptions)', () => {
    expect(() => workerEnv({ STRIPE_REFETCH_OBJECTS: 'subscriptions' })).toThrow(ConfigError);
    expect(() => workerEnv({ STRIPE_REFETCH_OBJECTS: 'subscriptions' })).toThrow(
      /STRIPE_REFETCH_OBJECTS: unknown object type\(s\) subscriptions/,
    );
  });

  it('rejects a zero concurrency (tried: WEBHOOK_CONCURRENCY=0)', () => {
    expect(() => workerEnv({ WEBHOOK_CONCURRENCY: '0' })).toThrow(/WEBHOOK_CONCURRENCY/);
  });

  it('rejects a batch size or window that is not a positive integer (tried: 0 and "fast")', () => {
    expect(() => workerEnv({ WEBHOOK_BATCH_SIZE: '0' })).toThrow(/WEBHOOK_BATCH_SIZE/);
    expect(() => workerEnv({ WEBHOOK_BATCH_WINDOW_MS: 'fast' })).toThrow(/WEBHOOK_BATCH_WINDOW_MS/);
    expect(() => workerEnv({ WEBHOOK_BATCHES_IN_FLIGHT: '-1' })).toThrow(
      /WEBHOOK_BATCHES_IN_FLIGHT/,
    );
  });

  it('requires a Stripe key in production', () => {
    expect(() => workerEnv({ NODE_ENV: 'production' })).toThrow(/STRIPE_SECRET_KEY/);
  });
});

describe('the environment docker compose gives the worker-webhooks service', () => {
  it.each(composeEnvironments('worker-webhooks'))('is accepted (%s)', (_label, env) => {
    expect(workerEnv(env)).toMatchObject({
      DATABASE_URL: 'postgres://postgres:postgres@postgres:5432/billing',
      STRIPE_SECRET_KEY: 'sk_test_simulator',
      STRIPE_API_BASE: 'http://stripe-simulator:12111',
    });
    expect(() => shutdownEnv(env)).not.toThrow();
  });
});
