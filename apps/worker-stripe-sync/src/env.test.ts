import { ConfigError } from '@billing/config';
import { composeEnvironments } from '@billing/testing/compose';
import { describe, expect, it } from 'vitest';
import { workerStripeSyncEnv } from './env.js';

describe('workerStripeSyncEnv', () => {
  it('defaults: port 3004, no key, the sync off, gap filling on when it runs', () => {
    const env = workerStripeSyncEnv({});
    expect(env.WORKER_STRIPE_SYNC_PORT).toBe(3004);
    expect(env.STRIPE_SECRET_KEY).toBeUndefined();
    expect(env.ops.STRIPE_SYNC_CRON).toBeUndefined();
    expect(env.ops.STRIPE_SYNC_FILL_GAPS).toBe(true);
  });

  it('reads the schedule and the 429 back-off from the ops settings', () => {
    const env = workerStripeSyncEnv({
      STRIPE_SYNC_CRON: '0 3 * * *',
      STRIPE_SYNC_FILL_GAPS: 'false',
      OPS_RATE_LIMIT_RETRIES: '2',
      STRIPE_SECRET_KEY: 'sk_test_123',
    });
    expect(env.ops).toMatchObject({
      STRIPE_SYNC_CRON: '0 3 * * *',
      STRIPE_SYNC_FILL_GAPS: false,
      OPS_RATE_LIMIT_RETRIES: 2,
    });
  });

  it('stops with a message naming the variable (tried a publishable key and a bad cron)', () => {
    expect(() => workerStripeSyncEnv({ STRIPE_SECRET_KEY: 'pk_test_123' })).toThrow(ConfigError);
    expect(() => workerStripeSyncEnv({ STRIPE_SECRET_KEY: 'pk_test_123' })).toThrow(
      /STRIPE_SECRET_KEY/,
    );
    expect(() => workerStripeSyncEnv({ STRIPE_SYNC_CRON: 'nightly' })).toThrow(/STRIPE_SYNC_CRON/);
  });
});

describe('the environment docker compose gives the worker-stripe-sync service', () => {
  it.each(composeEnvironments('worker-stripe-sync'))('is accepted (%s)', (_label, env) => {
    expect(workerStripeSyncEnv(env)).toMatchObject({
      WORKER_STRIPE_SYNC_PORT: 3004,
      STRIPE_API_BASE: 'http://stripe-simulator:12111',
    });
  });
});
