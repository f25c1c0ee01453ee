import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEV_WEBHOOK_SECRET,
  dbEnv,
  LOCAL_DATABASE_URL,
  LOCAL_REDIS_URL,
  loadDotEnv,
  logEnv,
  redisEnv,
  SIMULATOR_SECRET_KEY,
  serviceTokenEnv,
  stripeEnv,
} from './env.js';
import { ConfigError } from './errors.js';
import { DEFAULT_PLANS_FILE, plansEnv } from './plans.js';

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

describe('empty strings are unset', () => {
  // Compose's `${NAME:-}`, Kubernetes manifests and `.env` lines like `NAME=` all hand the
  // process '' for "not set". Before this rule the API exited on OPS_TOKEN and the workers on
  // STRIPE_SECRET_KEY / STRIPE_API_BASE when started by docker compose.
  const composeLike = {
    NODE_ENV: 'development',
    DATABASE_URL: '',
    DB_POOL_MAX: '',
    REDIS_URL: '',
    REDIS_PREFIX: '',
    STRIPE_SECRET_KEY: '',
    STRIPE_API_BASE: '',
    STRIPE_WEBHOOK_SECRETS: '',
    STRIPE_WEBHOOK_TOLERANCE_SECONDS: '',
    BILLING_SERVICE_TOKEN: '',
    LOG_LEVEL: '',
  };

  it('gives every shared loader its default for an empty value', () => {
    expect(dbEnv(composeLike)).toEqual({ DATABASE_URL: LOCAL_DATABASE_URL, DB_POOL_MAX: 10 });
    expect(redisEnv(composeLike)).toEqual({ REDIS_URL: LOCAL_REDIS_URL, REDIS_PREFIX: 'billing' });
    expect(stripeEnv(composeLike)).toEqual({
      STRIPE_WEBHOOK_SECRETS: [DEV_WEBHOOK_SECRET],
      STRIPE_WEBHOOK_TOLERANCE_SECONDS: 300,
    });
    expect(serviceTokenEnv(composeLike).BILLING_SERVICE_TOKEN).toBe('dev-service-token');
    expect(logEnv(composeLike).LOG_LEVEL).toBe('info');
    expect(plansEnv({ PLANS_FILE: '' }).PLANS_FILE).toBe(DEFAULT_PLANS_FILE);
  });

  it('still refuses an empty required secret in production, naming it', () => {
    expect(() =>
      stripeEnv({ NODE_ENV: 'production', STRIPE_SECRET_KEY: '', STRIPE_WEBHOOK_SECRETS: 'x' }),
    ).toThrow(/STRIPE_SECRET_KEY is required in production/);
    expect(() => serviceTokenEnv({ NODE_ENV: 'production', BILLING_SERVICE_TOKEN: '' })).toThrow(
      /BILLING_SERVICE_TOKEN is required in production/,
    );
  });

  it('does not hide a malformed non-empty value (tried "   " and "nope")', () => {
    expect(() => stripeEnv({ STRIPE_API_BASE: 'nope' })).toThrow(/STRIPE_API_BASE/);
    expect(() => redisEnv({ REDIS_PREFIX: '   ' })).toThrow(/REDIS_PREFIX/);
  });
});

describe('STRIPE_SIMULATOR_URL', () => {
  const simulator = 'http://stripe-simulator:12111';

  it('points the Stripe client at the simulator while no key is set', () => {
    expect(stripeEnv({ STRIPE_SIMULATOR_URL: simulator, STRIPE_SECRET_KEY: '' })).toMatchObject({
      STRIPE_SECRET_KEY: SIMULATOR_SECRET_KEY,
      STRIPE_API_BASE: simulator,
    });
  });

  it('is ignored once a key is set: the key goes to Stripe (or STRIPE_API_BASE)', () => {
    const env = stripeEnv({ STRIPE_SIMULATOR_URL: simulator, STRIPE_SECRET_KEY: 'sk_test_real' });
    expect(env.STRIPE_SECRET_KEY).toBe('sk_test_real');
    expect(env.STRIPE_API_BASE).toBeUndefined();
  });

  it('never applies in production (the key stays required)', () => {
    expect(() =>
      stripeEnv({
        NODE_ENV: 'production',
        STRIPE_SIMULATOR_URL: simulator,
        STRIPE_WEBHOOK_SECRETS: 'whsec_x',
      }),
    ).toThrow(/STRIPE_SECRET_KEY is required in production/);
  });
});

describe('.env loading', () => {
  const write = (text: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dotenv-'));
    const file = path.join(dir, '.env');
    writeFileSync(file, text);
    return file;
  };

  it("adds the file's variables without overriding what the shell set", () => {
    const env: NodeJS.ProcessEnv = { NODE_ENV: 'development', API_PORT: '4000' };
    expect(loadDotEnv(write('API_PORT=5000\nOPS_TOKEN="from-file-123"\n'), env)).toBe(true);
    expect(env).toMatchObject({ API_PORT: '4000', OPS_TOKEN: 'from-file-123' });
  });

  it('is not read under NODE_ENV=test or production, nor when the file is missing', () => {
    const file = write('OPS_TOKEN=from-file-123\n');
    for (const NODE_ENV of ['test', 'production']) {
      const env: NodeJS.ProcessEnv = { NODE_ENV };
      expect(loadDotEnv(file, env)).toBe(false);
      expect(env.OPS_TOKEN).toBeUndefined();
    }
    expect(loadDotEnv(path.join(tmpdir(), 'no-such-dir', '.env'), {})).toBe(false);
  });
});
