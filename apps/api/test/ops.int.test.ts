import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDb, webhookEvents } from '@billing/db';
import { moduleLogger } from '@billing/logger';
import {
  closeOpsQueues,
  createOpsQueues,
  opsCredentials,
  STATEMENTS_NOT_INSTALLED,
} from '@billing/ops';
import { addJob, QUEUES } from '@billing/queue';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { closeServer, errorHandler, notFoundHandler } from '@billing/runtime';
import { useTestServices } from '@billing/testing';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueDashboard } from '../src/ops/queue-dashboard.js';
import { opsRouter } from '../src/ops/router.js';

const services = await useTestServices('api-ops');
const handle = createDb({ url: services.databaseUrl, max: 2 });
const redis = createRedis(services.redisUrl, { role: 'producer' });
const queues = createOpsQueues({ connection: redis, prefix: services.redisPrefix });

const SERVICE = 'service-token-for-ops-tests';
const OPS = 'ops-token-for-ops-tests-0123';
const credentials = opsCredentials({
  serviceToken: SERVICE,
  opsToken: OPS,
  basicUser: 'oncall',
  basicPassword: 'correct horse battery staple',
});
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let server: Server;
let base: string;

beforeAll(async () => {
  await waitReady(redis);
  const app = express();
  // Stands in for the API's own authentication: a user API key sets req.auth to a user.
  app.use('/api', (req, _res, next) => {
    if (req.headers['x-test-user']) {
      req.auth = {
        kind: 'user',
        credentialId: 'key:test',
        userId: String(req.headers['x-test-user']),
      };
    }
    next();
  });
  app.use(
    '/api/ops',
    opsRouter({
      db: handle.db,
      sql: handle.sql,
      stripeEventsQueue: queues[QUEUES.stripeEvents],
      credentials,
    }),
  );
  app.use('/ops/queues', queueDashboard({ queues: Object.values(queues), credentials }));
  app.use(notFoundHandler);
  app.use(errorHandler(moduleLogger('ops-test')));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await closeServer(server, 1_000);
  await closeOpsQueues(queues);
  await closeRedis(redis);
  await handle.close();
});

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { headers });
const send = (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('queue dashboard auth', () => {
  it('answers 401 with a Basic challenge without credentials or with wrong ones', async () => {
    for (const headers of [
      {},
      bearer('not-a-token'),
      { authorization: basic('oncall', 'wrong password') },
    ]) {
      const res = await get('/ops/queues', headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="billing ops"/);
    }
    expect((await get('/ops/queues/api/queues')).status).toBe(401);
  });

  it('opens with the service token, the ops token or the basic login, and lists every queue', async () => {
    for (const headers of [
      bearer(SERVICE),
      bearer(OPS),
      { authorization: basic('oncall', 'correct horse battery staple') },
    ]) {
      const page = await get('/ops/queues', headers);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
    }
    const api = await get('/ops/queues/api/queues', bearer(OPS));
    expect(api.status).toBe(200);
    const body = (await api.json()) as {
      queues: Array<{ name: string; readOnlyMode: boolean; allowRetries: boolean }>;
    };
    expect(body.queues.map((q) => q.name).sort()).toEqual(Object.values(QUEUES).sort());
    expect(body.queues.every((q) => q.allowRetries)).toBe(true);
  });

  it('offers no "Retry all" for completed jobs, which it refuses', async () => {
    const api = await get('/ops/queues/api/queues', bearer(OPS));
    const body = (await api.json()) as {
      queues: Array<{ name: string; allowCompletedRetries: boolean }>;
    };
    expect(body.queues.map((q) => [q.name, q.allowCompletedRetries])).toEqual(
      body.queues.map((q) => [q.name, false]),
    );
    const path = `/ops/queues/api/queues/${QUEUES.stripeEvents}/retry/completed`;
    expect((await send('PUT', path, undefined, bearer(OPS))).status).toBe(405);
  });

  it("shows a job's raw event body as JSON, not as one escaped string", async () => {
    const raw = JSON.stringify({ id: 'evt_dash_json', object: 'event', type: 'customer.created' });
    await addJob(
      queues[QUEUES.stripeEvents],
      'stripe.event',
      {
        eventId: 'evt_dash_json',
        type: 'customer.created',
        raw,
        receivedAt: Date.now(),
        secretIndex: 0,
      },
      { jobId: 'evt_dash_json' },
    );
    const response = await get(
      `/ops/queues/api/queues/${QUEUES.stripeEvents}/evt_dash_json`,
      bearer(OPS),
    );
    expect(response.status).toBe(200);
    const { job } = (await response.json()) as { job: { data: { raw: unknown } } };
    expect(job.data.raw).toEqual({
      id: 'evt_dash_json',
      object: 'event',
      type: 'customer.created',
    });
    // The job itself still holds the bytes Stripe sent.
    expect((await queues[QUEUES.stripeEvents].getJob('evt_dash_json'))?.data.raw).toBe(raw);
  });

  it('allows retrying failed jobs, refuses pause, empty and add (405) and removing a waiting job (409)', async () => {
    const events = queues[QUEUES.stripeEvents];
    const path = `/ops/queues/api/queues/${QUEUES.stripeEvents}`;
    expect((await send('PUT', `${path}/pause`, undefined, bearer(OPS))).status).toBe(405);
    expect((await send('PUT', `${path}/empty`, undefined, bearer(OPS))).status).toBe(405);
    expect((await send('POST', `${path}/add`, { name: 'x', data: {} }, bearer(OPS))).status).toBe(
      405,
    );
    expect(await events.isPaused()).toBe(false);

    const retried = await send('PUT', `${path}/retry/failed`, undefined, bearer(OPS));
    expect(retried.status).toBe(200);
    await addJob(
      events,
      'stripe.event',
      {
        eventId: 'evt_dash_clean',
        type: 'customer.created',
        raw: '{}',
        receivedAt: Date.now(),
        secretIndex: 0,
      },
      { jobId: 'evt_dash_clean' },
    );
    // A waiting job is an acknowledged, unprocessed webhook: the dashboard may not remove it
    // (this expected 204 before the dashboard was narrowed to completed/failed jobs).
    const cleaned = await send('PUT', `${path}/evt_dash_clean/clean`, undefined, bearer(OPS));
    expect(cleaned.status).toBe(409);
    expect(await (await events.getJob('evt_dash_clean'))?.getState()).toBe('waiting');
  });
});

describe('/api/ops', () => {
  beforeAll(async () => {
    await handle.db.insert(webhookEvents).values({
      eventId: 'evt_api_failed',
      type: 'invoice.paid',
      created: new Date('2030-03-01T00:00:00Z'),
      payload: {
        id: 'evt_api_failed',
        object: 'event',
        type: 'invoice.paid',
        created: 1898553600,
        data: { object: { id: 'in_1', object: 'invoice' } },
      },
      status: 'failed',
      attempts: 2,
      error: 'PermanentSyncError: invoice without currency',
    });
  });

  it('needs the service or ops token: 401 without, 403 for a user API key', async () => {
    const none = await get('/api/ops/dead-letters');
    expect(none.status).toBe(401);
    expect((await get('/api/ops/dead-letters', { 'x-test-user': 'user_1' })).status).toBe(403);
    expect(
      (
        await get('/api/ops/dead-letters', {
          authorization: basic('oncall', 'correct horse battery staple'),
        })
      ).status,
    ).toBe(401);
  });

  it('lists dead letters with their reason, filtered', async () => {
    const res = await get(
      '/api/ops/dead-letters?type=invoice.paid&from=2030-01-01&to=2030-12-31T00:00:00Z&limit=10',
      bearer(SERVICE),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      deadLetters: [
        {
          eventId: 'evt_api_failed',
          type: 'invoice.paid',
          created: '2030-03-01T00:00:00.000Z',
          reason: 'PermanentSyncError: invoice without currency',
          attempts: 2,
          failedAt: null,
          sources: ['database'],
          jobId: null,
        },
      ],
      truncated: false,
      count: 1,
    });
    const none = await get('/api/ops/dead-letters?type=customer.created', bearer(OPS));
    expect(((await none.json()) as { count: number }).count).toBe(0);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=ten', 'limit'],
    ['from=last-tuesday', 'from'],
    ['to=2030-13-45T99:00:00Z', 'to'],
    ['type=Invoice%20Paid', 'type'],
    ['from=2030-02-01&to=2030-01-01', 'from'],
    ['colour=blue', 'colour'],
    ['type=a&type=b', 'type'],
  ])('rejects bad query %s with 400 naming %s', async (query, field) => {
    const res = await get(`/api/ops/dead-letters?${query}`, bearer(OPS));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { field: string; message: string } };
    expect(body.error.field).toBe(field);
    expect(body.error.message).toContain(field);
  });

  it.each([
    [{}, 'all'],
    [{ eventId: 'evt_api_failed', all: true }, 'all'],
    [{ all: false }, 'all'],
    [{ eventId: '' }, 'eventId'],
    [{ from: 'soon' }, 'from'],
  ])('rejects replay body %j with 400 naming %s', async (body, field) => {
    const res = await send('POST', '/api/ops/dead-letters/replay', body, bearer(OPS));
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain(field);
  });

  it('replays one dead letter by id (202) and answers 404 for an unknown one', async () => {
    const res = await send(
      'POST',
      '/api/ops/dead-letters/replay',
      { eventId: 'evt_api_failed' },
      bearer(SERVICE),
    );
    expect(res.status).toBe(202);
    const report = (await res.json()) as { replayed: number; outcomes: Array<{ jobId: string }> };
    expect(report.replayed).toBe(1);
    const job = await queues[QUEUES.stripeEvents].getJob(report.outcomes[0]!.jobId);
    expect(job?.data).toMatchObject({ eventId: 'evt_api_failed', type: 'invoice.paid' });

    const unknown = await send(
      'POST',
      '/api/ops/dead-letters/replay',
      { eventId: 'evt_unknown' },
      bearer(SERVICE),
    );
    expect(unknown.status).toBe(404);
  });

  it('serves the database report, saying why statements are missing', async () => {
    const res = await get('/api/ops/db', bearer(OPS));
    expect(res.status).toBe(200);
    const report = (await res.json()) as {
      statements: { available: boolean; message: string };
      tableSizes: Array<{ table: string }>;
    };
    expect(report.statements).toMatchObject({
      available: false,
      message: STATEMENTS_NOT_INSTALLED,
    });
    expect(report.tableSizes.map((t) => t.table)).toContain('subscriptions');
    const sync = await get('/api/ops/sync', bearer(OPS));
    expect(await sync.json()).toEqual({ cursors: [] });
  });
});
