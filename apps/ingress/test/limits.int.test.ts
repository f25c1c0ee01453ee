import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import { signStripePayload } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import type { Queue } from 'bullmq';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIngressConfig } from '../src/env.js';
import { type RunningIngress, startIngress } from '../src/server.js';
import { snapshotEvent } from './deliveries.js';

/**
 * Slow, oversized and numerous connections against the real ingress, through raw sockets so
 * the test controls every byte and its timing. Timeouts are set short (HTTP_* settings) so
 * the test is quick; what is asserted is the answer and that nothing was queued, never how
 * long it took (the deadline of each test is a minute).
 */
const services = await useTestServices('ingress-limits');
const SECRET = 'whsec_limits_Zq8rT5mW2nB7vX4kL9pD3sF6';

let ingress: RunningIngress;
let inspect: Queue;
let inspectRedis: ReturnType<typeof createRedis>;

beforeAll(async () => {
  const config = loadIngressConfig({
    NODE_ENV: 'test',
    REDIS_URL: services.redisUrl,
    REDIS_PREFIX: services.redisPrefix,
    STRIPE_WEBHOOK_SECRETS: SECRET,
    HTTP_HEADERS_TIMEOUT_MS: '1500',
    HTTP_REQUEST_TIMEOUT_MS: '2000',
    HTTP_MAX_CONNECTIONS: '4',
  });
  ingress = await startIngress(config, {
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    host: '127.0.0.1',
    port: 0,
    metricsPort: 0,
    exit: false,
    signals: false,
  });
  inspectRedis = createRedis(services.redisUrl, { role: 'producer' });
  await waitReady(inspectRedis);
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

const totalJobs = async () =>
  Object.values(await inspect.getJobCounts()).reduce((sum, n) => sum + n, 0);

/** A raw connection: what the server sent, and a promise of its closing. */
function connect(): Promise<{ socket: net.Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(ingress.port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
    });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', () => undefined);
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
    socket.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function signedHead(payload: string, extra: string): string {
  return [
    'POST /webhooks/stripe HTTP/1.1',
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    `Stripe-Signature: ${signStripePayload(payload, SECRET)}`,
    extra,
    '',
    '',
  ].join('\r\n');
}

describe('slow clients are cut (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS)', () => {
  it('a signed delivery sent one byte every 500 ms is answered 408 and closed, and not queued', async () => {
    const before = await totalJobs();
    const payload = snapshotEvent('evt_slow_body_1');
    const { socket, received, closed } = await connect();
    socket.write(signedHead(payload, `Content-Length: ${Buffer.byteLength(payload)}`));
    let open = true;
    void closed.then(() => {
      open = false;
    });
    // Trickle the body: it would take minutes to finish.
    for (let i = 0; open && i < 120; i++) {
      socket.write(payload[i] ?? ' ');
      await sleep(500);
    }
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(await totalJobs()).toBe(before);
  }, 60_000);

  it('headers sent one line every 500 ms are cut the same way', async () => {
    const { socket, received, closed } = await connect();
    socket.write('POST /webhooks/stripe HTTP/1.1\r\n');
    let open = true;
    void closed.then(() => {
      open = false;
    });
    for (let i = 0; open && i < 120; i++) {
      socket.write(`X-Slow-${i}: 1\r\n`);
      await sleep(500);
    }
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
  }, 60_000);
});

describe('oversized bodies (INGRESS_BODY_LIMIT_BYTES, 1 MiB)', () => {
  it('Content-Length: 2000000000 is answered 413 from the header alone, and the connection closed', async () => {
    const before = await totalJobs();
    const payload = snapshotEvent('evt_huge_declared');
    const { socket, received, closed } = await connect();
    // Only the headers: a server that waited for the body would answer 408, not 413.
    socket.write(signedHead(payload, 'Content-Length: 2000000000'));
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(received()).toMatch(/connection: close/i);
    expect(received()).toContain('"code":"payload_too_large"');
    expect(await totalJobs()).toBe(before);
  }, 60_000);

  it('a chunked body is cut at the limit: 413 and closed without waiting for the last chunk', async () => {
    const before = await totalJobs();
    const payload = snapshotEvent('evt_huge_chunked');
    const { socket, received, closed } = await connect();
    socket.write(signedHead(payload, 'Transfer-Encoding: chunked'));
    const chunk = 'x'.repeat(64 * 1024);
    let open = true;
    void closed.then(() => {
      open = false;
    });
    // 2 MiB in 64 KiB chunks, never the terminating 0-chunk.
    for (let i = 0; open && i < 32; i++) {
      socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      await sleep(10);
    }
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(await totalJobs()).toBe(before);
  }, 60_000);
});

describe('connection cap (HTTP_MAX_CONNECTIONS=4)', () => {
  it('closes connections beyond the cap at once; the ones inside it still work', async () => {
    const held = await Promise.all([connect(), connect(), connect(), connect()]);
    const extra = await connect();
    await extra.closed;
    expect(extra.received()).toBe('');
    // One of the held ones sends a real request and is answered.
    const first = held[0]!;
    first.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await first.closed;
    expect(first.received()).toMatch(/^HTTP\/1\.1 200 /);
    for (const { socket } of held) socket.destroy();
  }, 60_000);
});

describe('metrics and readiness detail live on the internal port', () => {
  it('the public port has no /metrics and a bare /readyz; the internal port (loopback) has both', async () => {
    expect((await fetch(`${ingress.url}/metrics`)).status).toBe(404);
    const publicReady = await fetch(`${ingress.url}/readyz`);
    expect(publicReady.status).toBe(200);
    expect(await publicReady.json()).toEqual({ ok: true });

    const metrics = await fetch(`${ingress.internalUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/ingress_webhook_requests_total/);
    expect((ingress.internalServer.address() as AddressInfo).address).toBe('127.0.0.1');
  });
});
