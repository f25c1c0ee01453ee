import { describe, expect, it } from 'vitest';
import { DEV_WEBHOOK_SECRET, serviceTokenEnv, stripeEnv } from './env.js';
import { estimatedEntropyBits, weakSecretReason } from './secrets.js';

const STRONG = 'Zq8rT5mW2nB7vX4kL9pD3sF6hJ1gY0cE8u';

describe('production secrets', () => {
  it('scores random values high and repeated ones at zero', () => {
    expect(estimatedEntropyBits('a'.repeat(40))).toBe(0);
    expect(estimatedEntropyBits(STRONG)).toBeGreaterThan(150);
  });

  it('refuses the development defaults, short values and predictable ones, saying why', () => {
    expect(weakSecretReason(DEV_WEBHOOK_SECRET, 'whsec_')).toMatch(/development default/);
    expect(weakSecretReason('dev-service-token')).toMatch(/development default/);
    expect(weakSecretReason('whsec_x', 'whsec_')).toMatch(/at least 24 characters after whsec_/);
    expect(weakSecretReason('a'.repeat(24))).toMatch(/too predictable/);
    expect(weakSecretReason('passwordpasswordpassword')).toMatch(/too predictable/);
    expect(weakSecretReason(STRONG)).toBeUndefined();
  });

  it('BILLING_SERVICE_TOKEN=aaaaaaaaaaaaaaaaaaaaaaaa is refused in production, accepted in development', () => {
    const token = 'a'.repeat(24);
    expect(() => serviceTokenEnv({ NODE_ENV: 'production', BILLING_SERVICE_TOKEN: token })).toThrow(
      /BILLING_SERVICE_TOKEN: is too predictable/,
    );
    expect(serviceTokenEnv({ BILLING_SERVICE_TOKEN: token }).BILLING_SERVICE_TOKEN).toBe(token);
  });

  it('STRIPE_WEBHOOK_SECRETS with the development default is refused in production only', () => {
    const env = { STRIPE_SECRET_KEY: 'sk_live_x', STRIPE_WEBHOOK_SECRETS: DEV_WEBHOOK_SECRET };
    expect(() => stripeEnv({ ...env, NODE_ENV: 'production' })).toThrow(
      /STRIPE_WEBHOOK_SECRETS: secret #1 is a development default/,
    );
    expect(stripeEnv(env).STRIPE_WEBHOOK_SECRETS).toEqual([DEV_WEBHOOK_SECRET]);
  });
});
