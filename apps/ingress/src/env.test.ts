import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@billing/config';
import { composeEnvironments } from '@billing/testing/compose';
import { describe, expect, it } from 'vitest';
import { loadIngressConfig } from './env.js';

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('ingress configuration', () => {
  it('defaults to port 3000, a 1 MiB body limit, 300 s tolerance and a 2 s enqueue timeout', () => {
    const config = loadIngressConfig({ NODE_ENV: 'development' });
    expect(config).toMatchObject({
      port: 3000,
      bodyLimitBytes: 1024 * 1024,
      toleranceSeconds: 300,
      enqueueTimeoutMs: 2_000,
      redisUrl: 'redis://127.0.0.1:6379',
      redisPrefix: 'billing',
    });
    expect(config.webhookSecrets).toHaveLength(1);
  });

  it('reads every comma-separated webhook secret, in order, for rotation', () => {
    const config = loadIngressConfig({ STRIPE_WEBHOOK_SECRETS: 'whsec_old, whsec_new' });
    expect(config.webhookSecrets).toEqual(['whsec_old', 'whsec_new']);
  });

  it('reads the tolerance, body limit and timeouts from the environment', () => {
    const config = loadIngressConfig({
      INGRESS_PORT: '8080',
      STRIPE_WEBHOOK_TOLERANCE_SECONDS: '60',
      INGRESS_BODY_LIMIT_BYTES: '2048',
      INGRESS_ENQUEUE_TIMEOUT_MS: '750',
      REDIS_URL: 'redis://redis.internal:6380',
      REDIS_PREFIX: '{billing}',
    });
    expect(config).toMatchObject({
      port: 8080,
      toleranceSeconds: 60,
      bodyLimitBytes: 2048,
      enqueueTimeoutMs: 750,
      redisUrl: 'redis://redis.internal:6380',
      redisPrefix: '{billing}',
    });
  });

  it('refuses to start in production without STRIPE_WEBHOOK_SECRETS, naming it', () => {
    expect(() => loadIngressConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadIngressConfig({ NODE_ENV: 'production' })).toThrow(/STRIPE_WEBHOOK_SECRETS/);
  });

  it('does not need a Stripe API key in production: the ingress only verifies signatures', () => {
    const config = loadIngressConfig({
      NODE_ENV: 'production',
      STRIPE_WEBHOOK_SECRETS: 'whsec_Zq8rT5mW2nB7vX4kL9pD3sF6hJ1gY0cE8u',
    });
    expect(config.webhookSecrets).toEqual(['whsec_Zq8rT5mW2nB7vX4kL9pD3sF6hJ1gY0cE8u']);
  });

  it('rejects a body limit that is not a positive integer (INGRESS_BODY_LIMIT_BYTES=1mb), naming it', () => {
    expect(() => loadIngressConfig({ INGRESS_BODY_LIMIT_BYTES: '1mb' })).toThrow(
      /INGRESS_BODY_LIMIT_BYTES/,
    );
  });

  it('rejects an empty secret list (STRIPE_WEBHOOK_SECRETS=" , "), naming it', () => {
    expect(() => loadIngressConfig({ STRIPE_WEBHOOK_SECRETS: ' , ' })).toThrow(
      /STRIPE_WEBHOOK_SECRETS/,
    );
  });

  it('main.ts exits 1 in production without STRIPE_WEBHOOK_SECRETS, printing its name', () => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', NODE_ENV: 'production' };
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: appDir,
      env,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/STRIPE_WEBHOOK_SECRETS/);
  }, 30_000);
});

describe('the environment docker compose gives the ingress service', () => {
  it.each(composeEnvironments('ingress'))('is accepted (%s)', (_label, env) => {
    expect(loadIngressConfig(env)).toMatchObject({
      port: 3000,
      redisUrl: 'redis://redis:6379',
      webhookSecrets: ['whsec_local_development_only'],
    });
  });
});
