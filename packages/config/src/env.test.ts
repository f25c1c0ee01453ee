import { describe, expect, it } from 'vitest';
import { dbEnv, redisEnv, serviceTokenEnv, stripeEnv } from './env.js';
import { ConfigError } from './errors.js';

describe('env parsing', () => {
  it('uses local defaults for URLs and ports when nothing is set', () => {
    expect(dbEnv({}).DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/billing');
    expect(redisEnv({})).toEqual({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: 'billing' });
  });

  it('names DATABASE_URL when it is not a postgres URL', () => {
    expect(() => dbEnv({ DATABASE_URL: 'mysql://x' })).toThrow(
      /DATABASE_URL: must be a postgres:\/\/ URL/,
    );
  });

  it('names REDIS_PREFIX when it contains a space', () => {
    expect(() => redisEnv({ REDIS_PREFIX: 'has space' })).toThrow(ConfigError);
    expect(() => redisEnv({ REDIS_PREFIX: 'has space' })).toThrow(/REDIS_PREFIX/);
  });

  it('accepts a hash-tagged prefix for Redis Cluster', () => {
    expect(redisEnv({ REDIS_PREFIX: '{billing}' }).REDIS_PREFIX).toBe('{billing}');
  });

  it('splits STRIPE_WEBHOOK_SECRETS on commas for rotation', () => {
    const env = stripeEnv({ STRIPE_WEBHOOK_SECRETS: 'whsec_old, whsec_new' });
    expect(env.STRIPE_WEBHOOK_SECRETS).toEqual(['whsec_old', 'whsec_new']);
    expect(env.STRIPE_WEBHOOK_TOLERANCE_SECONDS).toBe(300);
  });

  it('refuses to start in production without webhook secrets, naming the variable', () => {
    expect(() => stripeEnv({ NODE_ENV: 'production', STRIPE_SECRET_KEY: 'sk_live_x' })).toThrow(
      /STRIPE_WEBHOOK_SECRETS is required in production/,
    );
  });

  it('refuses to start in production without a Stripe key, naming the variable', () => {
    expect(() => stripeEnv({ NODE_ENV: 'production', STRIPE_WEBHOOK_SECRETS: 'whsec_x' })).toThrow(
      /STRIPE_SECRET_KEY/,
    );
  });

  it('rejects an empty secret list ("," only)', () => {
    expect(() => stripeEnv({ STRIPE_WEBHOOK_SECRETS: ' , ' })).toThrow(
      /must list at least one secret/,
    );
  });

  it('has no default service token in production', () => {
    expect(() => serviceTokenEnv({ NODE_ENV: 'production' })).toThrow(/BILLING_SERVICE_TOKEN/);
    expect(serviceTokenEnv({}).BILLING_SERVICE_TOKEN).toBe('dev-service-token');
  });

  it('rejects a non-numeric tolerance', () => {
    expect(() => stripeEnv({ STRIPE_WEBHOOK_TOLERANCE_SECONDS: 'soon' })).toThrow(
      /STRIPE_WEBHOOK_TOLERANCE_SECONDS/,
    );
  });
});
