import type { Server } from 'node:http';
import { fields, invalidateUsers, userKey } from '@billing/cache';
import { createDb } from '@billing/db';
import { rootLogger } from '@billing/logger';
import { createRedis, waitReady } from '@billing/redis';
import { closeServer, errorHandler, listen } from '@billing/runtime';
import { useTestServices } from '@billing/testing';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthContext } from '../src/auth/context.js';
import { usageRouter } from '../src/routes/usage.js';

const services = await useTestServices('api-usage');
const { sql, close } = createDb({ url: services.databaseUrl, max: 12 });
const redis = createRedis(services.redisUrl, { role: 'cache' });
const prefix = services.redisPrefix;
const logger = rootLogger();
const now = new Date('2026-03-20T12:00:00Z');
const config = {
  freePeriod: 'calendar_month' as const,
  freeEpoch: new Date('2024-01-01T00:00:00Z'),
  lateGraceMs: 48 * 3600_000,
  latePolicy: 'adjust' as const,
  maxFutureSkewMs: 300_000,
};

function buildApp(redisClient = redis) {
  const app = express();
  app.use(express.json({ limit: '2mb' }));
  // Stand-in for the API's auth middleware: the test names the credential in a header.
  app.use((req, _res, next) => {
    const header = req.get('x-test-auth');
    if (header) req.auth = JSON.parse(header) as AuthContext;
    next();
  });
  app.use(
    '/api/usage',
    usageRouter({
      sql,
      redis: redisClient,
      prefix,
      logger,
      metrics: ['compute_minutes', 'api_requests'],
      resolvePlanLimits: async () => ({
        planId: 'free',
        limits: { compute_minutes: 100, api_requests: 10_000 },
      }),
      invalidateUsage: (userIds) => invalidateUsers(redisClient, prefix, userIds, 'usage'),
      config,
      now: () => now,
    }),
  );
  app.use(errorHandler(logger));
  return app;
}

let server: Server;
let base: string;
beforeAll(async () => {
  await waitReady(redis);
  server = await listen(buildApp(), 0, '127.0.0.1');
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(async () => {
  await closeServer(server, 1_000);
  redis.disconnect();
  await close();
});

const SERVICE: AuthContext = { kind: 'service', credentialId: 'svc' };
const userAuth = (userId: string): AuthContext => ({
  kind: 'user',
  credentialId: `key_${userId}`,
  userId,
});

async function post(body: unknown, auth: AuthContext = SERVICE, url = `${base}/api/usage`) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-test-auth': JSON.stringify(auth) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const rec = (
  userId: string | undefined,
  key: string,
  quantity = 1,
  extra: Record<string, unknown> = {},
) => ({
  ...(userId === undefined ? {} : { userId }),
  metric: 'compute_minutes',
  quantity,
  occurredAt: '2026-03-20T11:00:00Z',
  idempotencyKey: key,
  ...extra,
});
const stored = async (userId: string) =>
  (await sql`select count(*)::int as n from usage_ledger where user_id = ${userId}`)[0]!
    .n as number;

describe('POST /api/usage', () => {
  it('stores a batch for several users with the service token and drops their cached usage', async () => {
    for (const user of ['r_a', 'r_b']) {
      await redis.hset(
        userKey(prefix, user),
        fields.usage('compute_minutes'),
        '{"e":0,"v":1}',
        'subscription',
        '{}',
      );
    }
    const res = await post({
      records: [rec('r_a', 'k1', 2), rec('r_b', 'k1', 3), rec('r_a', 'k1', 2)],
    });
    expect(res).toEqual({ status: 200, body: { accepted: 2, duplicates: 1, rejected: [] } });
    for (const user of ['r_a', 'r_b']) {
      expect(await redis.hget(userKey(prefix, user), fields.usage('compute_minutes'))).toBeNull();
      expect(await redis.hget(userKey(prefix, user), 'subscription')).toBe('{}');
    }
  });

  it('accepts a single record as the whole body', async () => {
    const res = await post(rec('r_single', 'only', 4));
    expect(res).toEqual({ status: 200, body: { accepted: 1, duplicates: 0, rejected: [] } });
  });

  it('counts a record retried 20 times concurrently once', async () => {
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => post(rec('r_retry', 'same', 1))),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(responses.reduce((n, r) => n + (r.body.accepted as number), 0)).toBe(1);
    expect(responses.reduce((n, r) => n + (r.body.duplicates as number), 0)).toBe(19);
    expect(await stored('r_retry')).toBe(1);
  });

  it('reports each bad record with its reason and stores the rest (atomic defaults to false)', async () => {
    const res = await post({
      records: [
        rec('r_bad', 'ok'),
        rec('r_bad', 'neg', -1),
        rec('r_bad', 'frac', 0.5),
        rec(undefined, 'nouser'),
      ],
    });
    expect(res).toEqual({
      status: 200,
      body: {
        accepted: 1,
        duplicates: 0,
        rejected: [
          { index: 1, error: 'negative_quantity' },
          { index: 2, error: 'non_integer_quantity' },
          { index: 3, error: 'missing_user_id' },
        ],
      },
    });
  });

  it('with atomic=true and one bad record stores nothing', async () => {
    const res = await post({
      atomic: true,
      records: [rec('r_atomic', 'ok'), rec('r_atomic', 'bad', 1, { metric: 'gpu' })],
    });
    expect(res.body).toEqual({
      accepted: 0,
      duplicates: 0,
      rejected: [
        { index: 0, error: 'batch_rejected' },
        { index: 1, error: 'unknown_metric' },
      ],
    });
    expect(await stored('r_atomic')).toBe(0);
  });

  it('lets a user key write its own usage, with or without naming its user', async () => {
    const res = await post(
      { records: [rec(undefined, 'mine-1'), rec('r_self', 'mine-2')] },
      userAuth('r_self'),
    );
    expect(res.body).toMatchObject({ accepted: 2 });
    expect(await stored('r_self')).toBe(2);
  });

  it('answers 403 and stores nothing when a user key names another user in any record', async () => {
    const res = await post(
      { records: [rec('r_owner', 'a'), rec('r_victim', 'b')] },
      userAuth('r_owner'),
    );
    expect(res.status).toBe(403);
    expect(await stored('r_owner')).toBe(0);
    expect(await stored('r_victim')).toBe(0);
  });

  it('answers 403 to the ops token', async () => {
    const res = await post(rec('r_ops', 'a'), { kind: 'ops', credentialId: 'ops' });
    expect(res.status).toBe(403);
  });

  it('answers 400 to 1,001 records and stores none of them', async () => {
    const records = Array.from({ length: 1001 }, (_, i) => rec('r_big', `k${i}`));
    const res = await post({ records });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'too_many_records', field: 'records' });
    expect(await stored('r_big')).toBe(0);
  });

  it('accepts exactly 1,000 records', async () => {
    const records = Array.from({ length: 1000 }, (_, i) => rec('r_thousand', `k${i}`));
    expect((await post({ records })).body).toEqual({ accepted: 1000, duplicates: 0, rejected: [] });
  });

  it.each([
    ['records that is not an array', { records: 'nope' }, 'invalid_field'],
    ['an empty records array', { records: [] }, 'empty_batch'],
    [
      'atomic given as the string "yes"',
      { atomic: 'yes', records: [rec('r_x', 'a')] },
      'invalid_field',
    ],
    ['enforceLimit given as 1', { enforceLimit: 1, records: [rec('r_x', 'a')] }, 'invalid_field'],
    ['a JSON array as the body', [rec('r_x', 'a')], 'invalid_body'],
  ])('answers 400 to %s', async (_what, body, code) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect((res.body.error as { code: string }).code).toBe(code);
  });

  it('with enforceLimit admits exactly one of 50 concurrent 1-unit requests at one unit below the plan limit', async () => {
    await post({ records: [rec('r_limit', 'base', 99)] });
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        post({ enforceLimit: true, records: [rec('r_limit', `race-${i}`, 1)] }),
      ),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(responses.reduce((n, r) => n + (r.body.accepted as number), 0)).toBe(1);
    const errors = responses.flatMap((r) =>
      (r.body.rejected as { error: string }[]).map((x) => x.error),
    );
    expect(errors).toEqual(Array(49).fill('limit_exceeded'));
    const [row] =
      await sql`select sum(quantity)::int as total from usage_ledger where user_id = 'r_limit'`;
    expect(row!.total).toBe(100);
  });

  it('answers 503 with enforceLimit when Redis is unreachable, and stores nothing', async () => {
    const down = createRedis('redis://127.0.0.1:1', { role: 'cache', commandTimeoutMs: 200 });
    down.on('error', () => {}); // connection refusals are the point of this test
    const downServer = await listen(buildApp(down), 0, '127.0.0.1');
    const address = downServer.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api/usage`;
    try {
      const res = await post({ enforceLimit: true, records: [rec('r_down', 'a')] }, SERVICE, url);
      expect(res.status).toBe(503);
      expect((res.body.error as { code: string }).code).toBe('usage_limiter_unavailable');
      expect(await stored('r_down')).toBe(0);
    } finally {
      await closeServer(downServer, 1_000);
      down.disconnect();
    }
  });
});
