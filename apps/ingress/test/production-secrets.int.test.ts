import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { DEV_WEBHOOK_SECRET } from '@billing/config';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { signStripePayload } from '@billing/stripe-fake';
import { freePort, REPO_ROOT, startApp, useTestServices } from '@billing/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotEvent } from './deliveries.js';

/**
 * Production must not start with a webhook secret anyone can read (the development default
 * in packages/config) or guess (one character, one repeated character): an event forged
 * with it would be answered 200 and queued. Tried against the real entry point.
 */
const services = await useTestServices('ingress-secrets');
let redis: ReturnType<typeof createRedis>;

beforeAll(async () => {
  redis = createRedis(services.redisUrl, { role: 'producer' });
  await waitReady(redis);
});
afterAll(async () => {
  if (redis) await closeRedis(redis);
});

const keysUnderPrefix = async () => (await redis.keys(`${services.redisPrefix}*`)).length;

/** Runs apps/ingress/src/main.ts to its exit; the port it would listen on is free. */
function runIngress(env: Record<string, string>, port: number) {
  return spawnSync(path.join(REPO_ROOT, 'node_modules/.bin/tsx'), ['src/main.ts'], {
    cwd: path.join(REPO_ROOT, 'apps/ingress'),
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      REDIS_URL: services.redisUrl,
      REDIS_PREFIX: services.redisPrefix,
      INGRESS_PORT: String(port),
      INGRESS_METRICS_PORT: '0',
      ...env,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('production refuses weak webhook secrets at start-up', () => {
  it.each([
    ['the development default', DEV_WEBHOOK_SECRET, /development default/],
    ['a 1-character secret', 'whsec_x', /at least 24 characters/],
    ['a repeated character', `whsec_${'a'.repeat(40)}`, /too predictable/],
    [
      'a strong secret next to the development default',
      `whsec_Zq8rT5mW2nB7vX4kL9pD3sF6hJ1gY0cE8u,${DEV_WEBHOOK_SECRET}`,
      /secret #2/,
    ],
  ])(
    '%s: exits 1 naming STRIPE_WEBHOOK_SECRETS, never listens, writes nothing',
    async (_label, secrets, reason) => {
      const port = await freePort();
      const result = runIngress({ STRIPE_WEBHOOK_SECRETS: secrets }, port);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/STRIPE_WEBHOOK_SECRETS/);
      expect(result.stderr).toMatch(reason);
      // The forged delivery of the issue finds nobody listening, and nothing reached Redis.
      const payload = snapshotEvent('evt_forged_dev_secret');
      const forged = await fetch(`http://127.0.0.1:${port}/webhooks/stripe`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'stripe-signature': signStripePayload(payload, DEV_WEBHOOK_SECRET),
        },
        body: payload,
      }).catch((error: Error) => error);
      expect(forged).toBeInstanceOf(Error);
      expect(await keysUnderPrefix()).toBe(0);
    },
    60_000,
  );

  it('starts with a random secret (the check is not refusing everything)', async () => {
    const port = await freePort();
    const app = await startApp({
      app: 'ingress',
      port,
      env: {
        NODE_ENV: 'production',
        REDIS_URL: services.redisUrl,
        REDIS_PREFIX: services.redisPrefix,
        INGRESS_PORT: String(port),
        INGRESS_METRICS_PORT: '0',
        STRIPE_WEBHOOK_SECRETS: 'whsec_Zq8rT5mW2nB7vX4kL9pD3sF6hJ1gY0cE8u',
      },
      timeoutMs: 60_000,
    });
    expect(await app.stop()).toBe(0);
  }, 90_000);
});
