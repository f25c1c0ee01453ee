import { ConfigError } from '@billing/config';
import { shutdownEnv } from '@billing/runtime';
import { composeEnvironments } from '@billing/testing/compose';
import { DEFAULT_ROLLUP_CHUNK_SIZE } from '@billing/usage';
import { describe, expect, it } from 'vitest';
import { workerUsageEnv } from './env.js';

describe('workerUsageEnv', () => {
  it('defaults: port 3003, 02:00 UTC cron, meter reporting off', () => {
    const env = workerUsageEnv({});
    expect(env).toMatchObject({
      WORKER_USAGE_PORT: 3003,
      USAGE_ROLLUP_CRON: '0 2 * * *',
      USAGE_ROLLUP_CHUNK_SIZE: DEFAULT_ROLLUP_CHUNK_SIZE,
      USAGE_STRIPE_METERS: {},
    });
    expect(env.usage).toMatchObject({
      freePeriod: 'calendar_month',
      latePolicy: 'adjust',
      lateGraceMs: 48 * 3600_000,
    });
  });

  it('parses metric=event pairs for meter reporting', () => {
    const env = workerUsageEnv({
      USAGE_STRIPE_METERS: 'compute_minutes=compute_minutes, api_requests=api_calls',
      STRIPE_SECRET_KEY: 'sk_test_123',
    });
    expect(env.USAGE_STRIPE_METERS).toEqual({
      compute_minutes: 'compute_minutes',
      api_requests: 'api_calls',
    });
  });

  it.each([
    [
      'USAGE_STRIPE_METERS without STRIPE_SECRET_KEY',
      { USAGE_STRIPE_METERS: 'compute_minutes=m' },
      'STRIPE_SECRET_KEY',
    ],
    [
      'USAGE_STRIPE_METERS "compute_minutes"',
      { USAGE_STRIPE_METERS: 'compute_minutes', STRIPE_SECRET_KEY: 'sk_x' },
      'USAGE_STRIPE_METERS',
    ],
    ['USAGE_ROLLUP_CRON "nightly"', { USAGE_ROLLUP_CRON: 'nightly' }, 'USAGE_ROLLUP_CRON'],
    ['USAGE_ROLLUP_CHUNK_SIZE 0', { USAGE_ROLLUP_CHUNK_SIZE: '0' }, 'USAGE_ROLLUP_CHUNK_SIZE'],
    ['WORKER_USAGE_PORT 70000', { WORKER_USAGE_PORT: '70000' }, 'WORKER_USAGE_PORT'],
    ['USAGE_LATE_POLICY "drop"', { USAGE_LATE_POLICY: 'drop' }, 'USAGE_LATE_POLICY'],
    ['USAGE_FREE_PERIOD "weekly"', { USAGE_FREE_PERIOD: 'weekly' }, 'USAGE_FREE_PERIOD'],
  ])('rejects %s, naming the variable', (_what, env, name) => {
    expect(() => workerUsageEnv(env)).toThrow(ConfigError);
    expect(() => workerUsageEnv(env)).toThrow(name);
  });
});

describe('the environment docker compose gives the worker-usage service', () => {
  it.each(composeEnvironments('worker-usage'))('is accepted (%s)', (_label, env) => {
    expect(workerUsageEnv(env)).toMatchObject({
      WORKER_USAGE_PORT: 3003,
      STRIPE_API_BASE: 'http://stripe-simulator:12111',
    });
    expect(() => shutdownEnv(env)).not.toThrow();
  });
});
