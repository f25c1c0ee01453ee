import { apiMetrics, performanceIssues } from '@billing/db';
import { useTestServices } from '@billing/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toOpenApiPath } from '../src/openapi.js';
import { json, OPS_TOKEN, startTestApi, type TestApi } from './support.js';

const services = await useTestServices('api-monitoring');

let t: TestApi;

beforeAll(async () => {
  t = await startTestApi(services);
});

afterAll(async () => {
  await t?.close();
});

type Report = {
  window: string;
  overall: Record<string, number | null>;
  endpoints: (Record<string, number | null> & { method: string; endpoint: string })[];
  recentSlow: Record<string, unknown>[];
};

describe('request metrics', () => {
  it('are aggregated in memory and written to api_metrics only by the background flush', async () => {
    for (let i = 0; i < 4; i++) expect((await t.call('/api/billing/plans')).status).toBe(200);
    expect((await t.call('/api/billing/plans?interval=week')).status).toBe(400);
    expect(await t.db.select().from(apiMetrics)).toHaveLength(0);

    await t.api.recorder.flush();
    const rows = await t.db
      .select()
      .from(apiMetrics)
      .where(eq(apiMetrics.endpoint, '/api/billing/plans'));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ method: 'GET', requests: 5, errors: 0, clientErrors: 1 });
    expect(rows[0]!.histogram.reduce((sum, n) => sum + n, 0)).toBe(5);
  });

  it('label requests by route pattern; failed auth by the router it hit', async () => {
    await t.call('/api/billing/subscription', { token: null });
    await t.api.recorder.flush();
    const endpoints = (await t.db.select().from(apiMetrics)).map((row) => row.endpoint);
    expect(endpoints).toContain('/api/billing/*');
    expect(endpoints.every((endpoint) => !endpoint.includes('?'))).toBe(true);
  });

  it('two flushes into the same minute add up (several instances share a row)', async () => {
    const at = { method: 'GET', endpoint: '/api/test/additive', status: 200 };
    t.api.recorder.record({ ...at, durationMs: 10 });
    await t.api.recorder.flush();
    t.api.recorder.record({ ...at, durationMs: 2_000 });
    t.api.recorder.record({ ...at, durationMs: 40 });
    await t.api.recorder.flush();
    const [row] = await t.db.select().from(apiMetrics).where(eq(apiMetrics.endpoint, at.endpoint));
    expect(row).toMatchObject({ requests: 3, minMs: 10, maxMs: 2_000, totalMs: 2_050, slow: 1 });
    expect(row!.histogram.reduce((sum, n) => sum + n, 0)).toBe(3);
  });
});

describe('GET /api/ops/performance', () => {
  it('per endpoint: requests, success rate, avg, p95 from the stored buckets, min, max, slow counts', async () => {
    // Known durations (tests never time real requests): 18 × 100 ms, 400 ms, 900 ms and a
    // 503 at 100 ms against the subscription target of 500 ms.
    const at = { method: 'GET', endpoint: '/api/billing/subscription', userId: 'user_perf' };
    for (let i = 0; i < 18; i++) t.api.recorder.record({ ...at, status: 200, durationMs: 100 });
    t.api.recorder.record({ ...at, status: 200, durationMs: 400 });
    t.api.recorder.record({ ...at, status: 200, durationMs: 900, requestId: 'req-slow' });
    t.api.recorder.record({ ...at, status: 503, durationMs: 100 });

    const { status, body } = await json<Report>(
      await t.call('/api/ops/performance?window=1h', { token: OPS_TOKEN }),
    );
    expect(status).toBe(200);
    expect(body.window).toBe('1h');
    const subscription = body.endpoints.find((e) => e.endpoint === '/api/billing/subscription');
    expect(subscription).toMatchObject({
      method: 'GET',
      requests: 21,
      serverErrors: 1,
      clientErrors: 0,
      successRate: Math.round((20 / 21) * 10_000) / 10_000,
      avgMs: Math.round(((19 * 100 + 400 + 900) / 21) * 10) / 10,
      minMs: 100,
      maxMs: 900,
      // rank 0.95 × 21 = 19.95 falls in the (300, 500] bucket holding one sample: 300 + 0.95 × 200.
      p95Ms: 490,
      slow: 1,
      targetMs: 500,
    });
    expect(body.overall.requests).toBe(
      body.endpoints.reduce((sum, e) => sum + (e.requests ?? 0), 0),
    );
    expect(body.overall.slow).toBeGreaterThanOrEqual(2);
    expect(body.recentSlow[0]).toMatchObject({
      endpoint: '/api/billing/subscription',
      durationMs: 900,
      targetMs: 500,
      statusCode: 200,
    });
    const [issue] = await t.db
      .select()
      .from(performanceIssues)
      .where(eq(performanceIssues.requestId, 'req-slow'));
    expect(issue).toMatchObject({ durationMs: 900, targetMs: 500, userId: 'user_perf' });
  });

  it('windows 24h and 7d answer too; the default window is 1h', async () => {
    expect((await json<Report>(await t.call('/api/ops/performance?window=24h'))).body.window).toBe(
      '24h',
    );
    expect((await json<Report>(await t.call('/api/ops/performance?window=7d'))).body.window).toBe(
      '7d',
    );
    expect((await json<Report>(await t.call('/api/ops/performance'))).body.window).toBe('1h');
  });
});

describe('OpenAPI document and health', () => {
  it('GET /api/openapi.json (no auth) documents every route the app serves, and only those', async () => {
    const { status, body } = await json<{
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    }>(await t.call('/api/openapi.json', { token: null }));
    expect(status).toBe(200);
    expect(body.openapi).toBe('3.1.0');
    const served = t.api.routes().map((r) => `${r.method} ${toOpenApiPath(r.path)}`);
    expect(served).toContain('POST /api/usage');
    expect(served).toContain('GET /api/ops/performance');
    const documented = Object.entries(body.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect([...served].sort()).toEqual([...documented].sort());
  });

  it('documents the request schema of a POST route with its required fields', async () => {
    const { body } = await json<{ paths: Record<string, Record<string, Record<string, unknown>>> }>(
      await t.call('/api/openapi.json', { token: null }),
    );
    const checkout = body.paths['/api/billing/create-checkout-session']?.post as {
      requestBody: {
        content: {
          'application/json': { schema: { required: string[]; additionalProperties: boolean } };
        };
      };
    };
    const schema = checkout.requestBody.content['application/json'].schema;
    expect(schema.required.sort()).toEqual(['cancelUrl', 'interval', 'planId', 'successUrl']);
    expect(schema.additionalProperties).toBe(false);
  });

  it('/healthz and a bare /readyz answer on the public port; /metrics only on the internal one', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true });
    expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${t.internalUrl}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${t.internalUrl}/metrics`)).text();
    expect(metrics).toContain('api_request_duration_seconds_bucket');
    expect(metrics).toContain('billing_cache_lookups_total');
  });

  it('export the labelled counters the dashboard reads before anything was slow or limited', async () => {
    const metrics = await (await fetch(`${t.internalUrl}/metrics`)).text();
    // Without a series these panels read "No data" on a healthy system.
    for (const endpoint of [
      '/api/billing/subscription',
      '/api/billing/usage',
      '/api/billing/upgrade',
      '/api/billing/create-checkout-session',
    ]) {
      expect(metrics).toMatch(
        new RegExp(`api_slow_requests_total\\{endpoint="${endpoint}"\\} \\d+`),
      );
    }
    for (const kind of ['user', 'service', 'ops']) {
      expect(metrics).toMatch(new RegExp(`api_rate_limited_total\\{kind="${kind}"\\} \\d+`));
    }
  });
});

describe('ops surfaces mounted on the API app', () => {
  it('the queue dashboard at /ops/queues answers 401 without credentials and serves the board with the ops token or basic login', async () => {
    const anonymous = await t.call('/ops/queues', { token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic/);
    const withToken = await t.call('/ops/queues', { token: OPS_TOKEN });
    expect(withToken.status).toBe(200);
    expect(await withToken.text()).toMatch(/<html/i);
    const basic = `Basic ${Buffer.from('ops:ops-basic-password-123').toString('base64')}`;
    const withBasic = await t.call('/ops/queues', {
      token: null,
      headers: { authorization: basic },
    });
    expect(withBasic.status).toBe(200);
  });

  it('GET /api/ops/dead-letters lists nothing on a fresh database and rejects a bad limit naming the field', async () => {
    const { status, body } = await json<{ count: number }>(await t.call('/api/ops/dead-letters'));
    expect(status).toBe(200);
    expect(body.count).toBe(0);
    const bad = await json<{ error: { field?: string } }>(
      await t.call('/api/ops/dead-letters?limit=lots'),
    );
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/limit/);
  });
});
