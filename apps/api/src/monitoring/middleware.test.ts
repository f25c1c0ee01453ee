import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markRouteBase, timeRequests } from './middleware.js';
import type { RequestRecorder } from './recorder.js';

describe('the endpoint label', () => {
  const seen: string[] = [];
  const recorder = { record: (sample: { endpoint: string }) => seen.push(sample.endpoint) };
  let server: ReturnType<express.Express['listen']>;
  let url: string;

  beforeAll(async () => {
    const app = express();
    app.use(timeRequests(recorder as unknown as RequestRecorder));
    // Like bull-board's UI router: one handler declared for several paths.
    const dashboard = express.Router();
    dashboard.get(['/', '/queue/:queueName', '/queue/:queueName/:jobId'], (_req, res) => {
      res.send('ui');
    });
    dashboard.get('/api/queues/:queueName', (_req, res) => {
      res.send('api');
    });
    app.use('/ops/queues', markRouteBase, dashboard);
    await new Promise<void>((resolve) => {
      server = app.listen(0, '127.0.0.1', () => resolve());
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('is the mount point for a route declared with several paths, never the paths joined', async () => {
    seen.length = 0;
    for (const path of ['/ops/queues/', '/ops/queues/queue/stripe-events']) {
      await (await fetch(`${url}${path}`)).text();
    }
    await (await fetch(`${url}/ops/queues/api/queues/stripe-events`)).text();
    await expect.poll(() => seen.length).toBe(3);
    expect(seen).toEqual(['/ops/queues/*', '/ops/queues/*', '/ops/queues/api/queues/:queueName']);
  });
});
