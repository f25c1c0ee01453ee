import http from 'node:http';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis } from '@billing/redis';
import { signStripePayload, signStripePayloadMulti } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import type { Queue } from 'bullmq';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIngressConfig } from '../src/env.js';
import { type RunningIngress, startIngress } from '../src/server.js';
import { deliver, snapshotEvent, thinEvent } from './deliveries.js';

const services = await useTestServices('ingress');

const OLD_SECRET = 'whsec_int_old_0f9c2a71d4';
const NEW_SECRET = 'whsec_int_new_8b13e6c5aa';
const RETIRED_SECRET = 'whsec_int_retired_55d0e1';

/** Everything the ingress logs during this file, at every level. */
const logLines: string[] = [];
const logger = pino(
  { level: 'trace' },
  new Writable({
    write(chunk, _encoding, callback) {
      logLines.push(chunk.toString());
      callback();
    },
  }),
);

let ingress: RunningIngress;
/** A separate connection for assertions, so they do not go through the app's own client. */
let inspect: Queue;
let inspectRedis: ReturnType<typeof createRedis>;
let seq = 0;
const eventId = (label: string) => `evt_int_${label}_${Date.now().toString(36)}${seq++}`;

const totalJobs = async () => {
  const counts = await inspect.getJobCounts();
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
};

beforeAll(async () => {
  // The real env parser, so the defaults under test (1 MiB, 300 s) are the shipped ones.
  const config = loadIngressConfig({
    NODE_ENV: 'test',
    REDIS_URL: services.redisUrl,
    REDIS_PREFIX: services.redisPrefix,
    STRIPE_WEBHOOK_SECRETS: `${OLD_SECRET},${NEW_SECRET}`,
  });
  ingress = await startIngress(config, {
    logger,
    registry: new Registry(),
    host: '127.0.0.1',
    port: 0,
    metricsPort: 0,
    exit: false,
    signals: false,
  });
  inspectRedis = createRedis(services.redisUrl, { role: 'producer' });
  inspect = createQueue(QUEUES.stripeEvents, {
    connection: inspectRedis,
    prefix: services.redisPrefix,
  });
});

afterAll(async () => {
  await ingress?.lifecycle.shutdown('test end');
  await inspect?.close();
  if (inspectRedis) await closeRedis(inspectRedis);
});

describe('POST /webhooks/stripe: accepted deliveries', () => {
  it('answers 200 {received:true} once the job is in Redis, with jobId = event id and the raw body intact', async () => {
    const id = eventId('accept');
    const payload = snapshotEvent(id, { type: 'customer.subscription.updated' });
    const response = await deliver(ingress.url, payload, { secret: OLD_SECRET });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ received: true });

    const job = await inspect.getJob(id);
    expect(job?.id).toBe(id);
    expect(job?.name).toBe('stripe.event');
    expect(job?.data).toMatchObject({
      eventId: id,
      type: 'customer.subscription.updated',
      secretIndex: 0,
    });
    // Byte for byte what Stripe signed (pretty-printed, not re-serialised).
    expect(job?.data.raw).toBe(payload);
    expect(job?.opts.attempts).toBe(40);
  });

  it('accepts a timestamp 60 s ahead of this clock (inside the window: ordinary clock skew)', async () => {
    const id = eventId('skew');
    const response = await deliver(ingress.url, snapshotEvent(id), {
      secret: NEW_SECRET,
      timestamp: Math.floor(Date.now() / 1000) + 60,
    });
    expect(response.status).toBe(200);
    expect((await inspect.getJob(id))?.id).toBe(id);
  });

  it('enqueues a delivery delivered 3 times once, answering 200 each time', async () => {
    const id = eventId('dup');
    const payload = snapshotEvent(id);
    const before = await totalJobs();
    const statuses: number[] = [];
    // Stripe re-signs every attempt with a fresh timestamp.
    for (let attempt = 0; attempt < 3; attempt++) {
      statuses.push(
        (
          await deliver(ingress.url, payload, {
            secret: NEW_SECRET,
            timestamp: Math.floor(Date.now() / 1000) - attempt,
          })
        ).status,
      );
    }
    expect(statuses).toEqual([200, 200, 200]);
    expect(await totalJobs()).toBe(before + 1);
    expect((await inspect.getJob(id))?.data.raw).toBe(payload);
  });

  it('enqueues once when the same event arrives on 5 connections at the same time', async () => {
    const id = eventId('burst');
    const payload = snapshotEvent(id);
    const before = await totalJobs();
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => deliver(ingress.url, payload, { secret: OLD_SECRET })),
    );
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(await totalJobs()).toBe(before + 1);
  });

  it('accepts either of two rotated secrets and reports which one matched', async () => {
    const oldId = eventId('rot_old');
    const newId = eventId('rot_new');
    expect((await deliver(ingress.url, snapshotEvent(oldId), { secret: OLD_SECRET })).status).toBe(
      200,
    );
    expect((await deliver(ingress.url, snapshotEvent(newId), { secret: NEW_SECRET })).status).toBe(
      200,
    );
    expect((await inspect.getJob(oldId))?.data.secretIndex).toBe(0);
    expect((await inspect.getJob(newId))?.data.secretIndex).toBe(1);
  });

  it('accepts a header signed with both secrets at once, as Stripe sends during a roll', async () => {
    const id = eventId('rot_both');
    const payload = snapshotEvent(id);
    const response = await deliver(ingress.url, payload, {
      signature: signStripePayloadMulti(payload, [NEW_SECRET, OLD_SECRET]),
    });
    expect(response.status).toBe(200);
    expect(await inspect.getJob(id)).toBeDefined();
  });

  it('enqueues a thin event (object v2.core.event) as a stripe.thin-event job', async () => {
    const id = eventId('thin');
    const payload = thinEvent(id);
    const response = await deliver(ingress.url, payload, { secret: NEW_SECRET });
    expect(response.status).toBe(200);
    const job = await inspect.getJob(id);
    expect(job?.name).toBe('stripe.thin-event');
    expect(job?.data).toMatchObject({
      eventId: id,
      type: 'v1.billing.meter.error_report_triggered',
      raw: payload,
    });
  });
});

describe('POST /webhooks/stripe: bad input gets a 4xx naming the problem and enqueues nothing', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const sign = (payload: string, secret = OLD_SECRET, timestamp = now()) =>
    signStripePayload(payload, secret, timestamp);

  interface BadCase {
    name: string;
    status: number;
    code: string;
    build: (id: string) => { payload: string | Buffer; options: Parameters<typeof deliver>[2] };
  }

  const cases: BadCase[] = [
    {
      name: 'no Stripe-Signature header',
      status: 400,
      code: 'missing_signature',
      build: (id) => ({ payload: snapshotEvent(id), options: { signature: null } }),
    },
    {
      name: 'a Stripe-Signature header with no v1 signature (t=…,v0=…)',
      status: 400,
      code: 'invalid_signature_header',
      build: (id) => ({
        payload: snapshotEvent(id),
        options: { signature: `t=${now()},v0=deadbeef` },
      }),
    },
    {
      name: 'a Stripe-Signature header that is not key=value pairs',
      status: 400,
      code: 'invalid_signature_header',
      build: (id) => ({ payload: snapshotEvent(id), options: { signature: 'not-a-signature' } }),
    },
    {
      name: 'a signature made with a rotated-out secret',
      status: 400,
      code: 'invalid_signature',
      build: (id) => ({ payload: snapshotEvent(id), options: { secret: RETIRED_SECRET } }),
    },
    {
      name: 'a body changed after signing (event type edited)',
      status: 400,
      code: 'invalid_signature',
      build: (id) => {
        const payload = snapshotEvent(id, { type: 'customer.updated' });
        const tampered = payload.replace(
          '"type": "customer.updated"',
          '"type": "customer.deleted"',
        );
        expect(tampered).not.toBe(payload);
        return { payload: tampered, options: { signature: sign(payload) } };
      },
    },
    {
      name: 'a correct signature with a timestamp 301 s old',
      status: 400,
      code: 'timestamp_outside_tolerance',
      build: (id) => ({
        payload: snapshotEvent(id),
        options: { secret: NEW_SECRET, timestamp: now() - 301 },
      }),
    },
    // The tolerance window holds both ways: a timestamp ahead of the clock is as suspect.
    ...(
      [
        ['301 s', 301],
        ['1 hour', 3_600],
        ['1 year', 365 * 86_400],
      ] as const
    ).map(([label, ahead]) => ({
      name: `a correct signature with a timestamp ${label} in the future`,
      status: 400,
      code: 'timestamp_outside_tolerance',
      build: (id: string) => ({
        payload: snapshotEvent(id),
        options: { secret: NEW_SECRET, timestamp: now() + ahead },
      }),
    })),
    {
      name: 'signed malformed JSON (truncated body)',
      status: 400,
      code: 'invalid_json',
      build: (id) => ({
        payload: snapshotEvent(id).slice(0, 200),
        options: { secret: OLD_SECRET },
      }),
    },
    {
      name: 'signed valid JSON that is an array, not an event',
      status: 400,
      code: 'not_an_event',
      build: (id) => ({
        payload: JSON.stringify([{ id, object: 'event', type: 'customer.created' }]),
        options: { secret: OLD_SECRET },
      }),
    },
    {
      name: 'signed JSON object without id and type',
      status: 400,
      code: 'not_an_event',
      build: () => ({
        payload: JSON.stringify({ object: 'event', data: {} }),
        options: { secret: OLD_SECRET },
      }),
    },
    {
      name: 'a signed customer object instead of an event (object "customer")',
      status: 400,
      code: 'not_an_event',
      build: (id) => ({
        payload: JSON.stringify({ id, object: 'customer', type: 'customer.created' }),
        options: { secret: OLD_SECRET },
      }),
    },
    {
      name: 'a signed event whose id is not an event id (contains ":")',
      status: 400,
      code: 'not_an_event',
      build: () => ({
        payload: JSON.stringify({ id: 'cus:123', object: 'event', type: 'customer.created' }),
        options: { secret: OLD_SECRET },
      }),
    },
    {
      name: 'Content-Type text/plain',
      status: 415,
      code: 'unsupported_media_type',
      build: (id) => ({
        payload: snapshotEvent(id),
        options: { secret: OLD_SECRET, contentType: 'text/plain' },
      }),
    },
    {
      name: 'a form post (application/x-www-form-urlencoded)',
      status: 415,
      code: 'unsupported_media_type',
      build: (id) => ({
        payload: `id=${id}&object=event`,
        options: { secret: OLD_SECRET, contentType: 'application/x-www-form-urlencoded' },
      }),
    },
    {
      name: 'no Content-Type at all',
      status: 415,
      code: 'unsupported_media_type',
      build: (id) => ({
        payload: snapshotEvent(id),
        options: { secret: OLD_SECRET, contentType: null },
      }),
    },
    {
      name: 'a gzip-compressed body (Content-Encoding: gzip)',
      status: 415,
      code: 'unsupported_content_encoding',
      build: (id) => {
        const payload = snapshotEvent(id);
        return {
          payload: gzipSync(payload),
          options: { signature: sign(payload), headers: { 'content-encoding': 'gzip' } },
        };
      },
    },
    {
      name: 'a correctly signed body one byte over the default 1 MiB limit',
      status: 413,
      code: 'payload_too_large',
      build: (id) => {
        const base = JSON.stringify({ id, object: 'event', type: 'customer.created', pad: '' });
        const payload = base.replace(
          '"pad":""',
          `"pad":"${'x'.repeat(1024 * 1024 + 1 - base.length)}"`,
        );
        expect(Buffer.byteLength(payload)).toBe(1024 * 1024 + 1);
        return { payload, options: { secret: OLD_SECRET } };
      },
    },
    {
      name: 'GET on the webhook route',
      status: 405,
      code: 'method_not_allowed',
      build: (id) => ({ payload: snapshotEvent(id), options: { method: 'GET' } }),
    },
    {
      name: 'PUT on the webhook route with a valid signature',
      status: 405,
      code: 'method_not_allowed',
      build: (id) => ({
        payload: snapshotEvent(id),
        options: { method: 'PUT', secret: OLD_SECRET },
      }),
    },
    {
      name: 'a POST to an unknown route (/webhooks/stripe/v2)',
      status: 404,
      code: 'not_found',
      build: (id) => ({
        payload: snapshotEvent(id),
        options: { path: '/webhooks/stripe/v2', secret: OLD_SECRET },
      }),
    },
  ];

  it.each(cases)('$name → $status $code', async ({ status, code, build }) => {
    const id = eventId('bad');
    const { payload, options } = build(id);
    const before = await totalJobs();
    const response = await deliver(ingress.url, payload, options);
    expect(response.status).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.body.error?.code).toBe(code);
    expect(response.body.error?.message).toEqual(expect.any(String));
    expect(response.body.error?.message.length).toBeGreaterThan(10);
    expect(await totalJobs()).toBe(before);
    expect(await inspect.getJob(id)).toBeUndefined();
  });

  it('a body exactly at the 1 MiB limit is accepted', async () => {
    const id = eventId('limit');
    const base = JSON.stringify({ id, object: 'event', type: 'customer.created', pad: '' });
    const payload = base.replace('"pad":""', `"pad":"${'x'.repeat(1024 * 1024 - base.length)}"`);
    expect(Buffer.byteLength(payload)).toBe(1024 * 1024);
    const response = await deliver(ingress.url, payload, { secret: NEW_SECRET });
    expect(response.status).toBe(200);
    expect((await inspect.getJob(id))?.data.raw).toBe(payload);
  });
});

describe('health, readiness and metrics', () => {
  it('/healthz and /readyz answer 200 while Redis answers', async () => {
    expect((await fetch(`${ingress.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${ingress.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true });
  });

  it('/metrics counts requests by outcome, verify failures by reason, secret index and enqueue latency', async () => {
    const text = await (await fetch(`${ingress.internalUrl}/metrics`)).text();
    const value = (pattern: RegExp) => Number(text.match(pattern)?.[1] ?? Number.NaN);
    expect(value(/ingress_webhook_requests_total\{outcome="accepted"\} (\d+)/)).toBeGreaterThan(0);
    expect(value(/ingress_webhook_requests_total\{outcome="payload_too_large"\} (\d+)/)).toBe(1);
    expect(
      value(/ingress_webhook_verify_failures_total\{reason="timestamp_outside_tolerance"\} (\d+)/),
    ).toBe(4); // one 301 s old, three in the future
    expect(value(/ingress_webhook_verify_failures_total\{reason="invalid_signature"\} (\d+)/)).toBe(
      2,
    );
    expect(value(/ingress_webhook_secret_matches_total\{index="0"\} (\d+)/)).toBeGreaterThan(0);
    expect(value(/ingress_webhook_secret_matches_total\{index="1"\} (\d+)/)).toBeGreaterThan(0);
    expect(
      value(/ingress_webhook_enqueue_duration_seconds_count\{result="ok"\} (\d+)/),
    ).toBeGreaterThan(0);
  });
});

describe('logs', () => {
  it('name the matched secret index but never a secret, a signature or the payload', async () => {
    const from = logLines.length;
    const marker = 'log-canary-4f1d9e@example.com';
    const accepted = snapshotEvent(eventId('log_ok'), { marker });
    const rejected = snapshotEvent(eventId('log_bad'), { marker });
    const sent = [
      await deliver(ingress.url, accepted, { secret: NEW_SECRET }),
      await deliver(ingress.url, rejected, { secret: RETIRED_SECRET }),
      await deliver(ingress.url, rejected, {
        secret: OLD_SECRET,
        timestamp: Math.floor(Date.now() / 1000) - 3600,
      }),
    ];
    expect(sent.map((r) => r.status)).toEqual([200, 400, 400]);

    const lines = logLines.slice(from);
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toContainEqual(
      expect.objectContaining({ msg: 'webhook accepted', secretIndex: 1 }),
    );
    expect(records).toContainEqual(
      expect.objectContaining({ msg: 'webhook rejected', outcome: 'invalid_signature' }),
    );
    // The whole file's log output, not just this test's: no request ever leaked one.
    const everything = logLines.join('');
    for (const secret of [OLD_SECRET, NEW_SECRET, RETIRED_SECRET, marker]) {
      expect(everything).not.toContain(secret);
    }
    for (const response of sent) {
      const v1 = response.signature!.split('v1=')[1]!;
      expect(everything).not.toContain(v1);
    }
  });
});

describe('graceful shutdown', () => {
  it('finishes a request already in flight (its job lands), then refuses new connections and closes Redis', async () => {
    const config = loadIngressConfig({
      NODE_ENV: 'test',
      REDIS_URL: services.redisUrl,
      REDIS_PREFIX: services.redisPrefix,
      STRIPE_WEBHOOK_SECRETS: OLD_SECRET,
    });
    const draining = await startIngress(config, {
      logger,
      registry: new Registry(),
      host: '127.0.0.1',
      port: 0,
      exit: false,
      signals: false,
    });
    const id = eventId('drain');
    const payload = Buffer.from(snapshotEvent(id));
    const half = Math.floor(payload.length / 2);

    // A delivery whose body is half sent when SIGTERM arrives.
    const request = http.request(`${draining.url}/webhooks/stripe`, {
      method: 'POST',
      agent: new http.Agent({ keepAlive: true }),
      headers: {
        'content-type': 'application/json',
        'content-length': payload.length,
        'stripe-signature': signStripePayload(payload.toString(), OLD_SECRET),
      },
    });
    const response = new Promise<{ status: number; body: string; connection?: string }>(
      (resolve, reject) => {
        request.on('response', (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }),
          );
        });
        request.on('error', reject);
      },
    );
    request.write(payload.subarray(0, half));
    // Wait until the server holds the connection, then start the shutdown.
    await until(
      () =>
        new Promise<boolean>((resolve) =>
          draining.server.getConnections((_error, count) => resolve(count > 0)),
        ),
    );
    const stopped = draining.lifecycle.shutdown('SIGTERM (test)');
    await until(async () => !draining.server.listening);

    // New connections are refused while the old request is still open.
    await expect(fetch(`${draining.url}/healthz`)).rejects.toThrow();
    expect(draining.redis.status).toBe('ready');

    // The rest of the body arrives: the delivery completes normally, and the socket is
    // closed after it instead of being kept alive.
    request.end(payload.subarray(half));
    const answer = await response;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ received: true });
    expect(answer.connection).toBe('close');
    expect((await inspect.getJob(id))?.data.raw).toBe(payload.toString());

    await stopped;
    // QUIT was answered; the socket closes right after.
    await expect.poll(() => draining.redis.status).toBe('end');
  });
});

/** Polls `check` every 5 ms until it holds. */
async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 5));
}
