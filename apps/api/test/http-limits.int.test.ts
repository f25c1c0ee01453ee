import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { closeServer, listen } from '@billing/runtime';
import { useTestServices } from '@billing/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_TOKEN, startTestApi, type TestApi, uniqueUser } from './support.js';

/**
 * Slow and oversized requests against the API app, through raw sockets. The app is served
 * a second time with short HTTP_* limits so the slow-client tests finish quickly; what is
 * asserted is the answer and that nothing was stored, not how long it took.
 */
const services = await useTestServices('api-http-limits');
let t: TestApi;
let strict: Server;
let strictPort: number;

beforeAll(async () => {
  t = await startTestApi(services);
  strict = await listen(t.api.app, 0, '127.0.0.1', {
    headersTimeoutMs: 1_500,
    requestTimeoutMs: 2_000,
    keepAliveTimeoutMs: 5_000,
    maxConnections: 100,
  });
  strictPort = (strict.address() as AddressInfo).port;
});
afterAll(async () => {
  if (strict) await closeServer(strict, 1_000);
  await t?.close();
});

function connect(port: number) {
  return new Promise<{ socket: net.Socket; received: () => string; closed: Promise<void> }>(
    (resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let data = '';
      socket.on('data', (chunk) => {
        data += chunk.toString('latin1');
      });
      const closed = new Promise<void>((done) => socket.once('close', () => done()));
      socket.once('connect', () => resolve({ socket, received: () => data, closed }));
      socket.once('error', reject);
    },
  );
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const head = (extra: string) =>
  [
    'POST /api/usage HTTP/1.1',
    'Host: 127.0.0.1',
    `Authorization: Bearer ${SERVICE_TOKEN}`,
    'Content-Type: application/json',
    extra,
    '',
    '',
  ].join('\r\n');

const ledgerRows = async (userId: string) =>
  (
    await t.sql<
      { n: number }[]
    >`select count(*)::int as n from usage_ledger where user_id = ${userId}`
  )[0]!.n;

const record = (userId: string, key: string) => ({
  userId,
  metric: 'api_requests',
  quantity: 1,
  occurredAt: new Date().toISOString(),
  idempotencyKey: key,
});

describe('POST /api/usage: slow and oversized bodies', () => {
  it('a usage batch sent one byte every 500 ms is answered 408 and closed; nothing stored', async () => {
    const user = uniqueUser('slow');
    const body = JSON.stringify({ records: [record(user, 'slow-1')] });
    const { socket, received, closed } = await connect(strictPort);
    socket.write(head(`Content-Length: ${Buffer.byteLength(body)}`));
    let open = true;
    void closed.then(() => {
      open = false;
    });
    for (let i = 0; open && i < 120; i++) {
      socket.write(body[i] ?? ' ');
      await sleep(500);
    }
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(await ledgerRows(user)).toBe(0);
  }, 60_000);

  it('Content-Length of 50 MB is answered 413 from the header alone and the connection closed', async () => {
    // Served with the default limits: a server that waited for the body would never answer.
    const { socket, received, closed } = await connect(Number(new URL(t.url).port));
    socket.write(head(`Content-Length: ${50 * 1024 * 1024}`));
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(received()).toMatch(/connection: close/i);
  }, 60_000);

  it('a chunked usage body is cut at its limit (1 MiB): 413, closed, nothing stored', async () => {
    const user = uniqueUser('chunked');
    const { socket, received, closed } = await connect(Number(new URL(t.url).port));
    socket.write(head('Transfer-Encoding: chunked'));
    const first = `{"records":[${JSON.stringify(record(user, 'chunk-1'))},`;
    socket.write(`${Buffer.byteLength(first).toString(16)}\r\n${first}\r\n`);
    const filler = `${JSON.stringify(record(user, 'x'.repeat(200)))},`.repeat(200);
    let open = true;
    void closed.then(() => {
      open = false;
    });
    for (let i = 0; open && i < 100; i++) {
      socket.write(`${Buffer.byteLength(filler).toString(16)}\r\n${filler}\r\n`);
      await sleep(5);
    }
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(await ledgerRows(user)).toBe(0);
  }, 60_000);

  it('the over-limit message states the limit that applied: 1048576 bytes for usage, 102400 elsewhere', async () => {
    const user = uniqueUser('limit');
    const big = JSON.stringify({
      records: [{ ...record(user, 'big-1'), metadata: { pad: 'x'.repeat(1024 * 1024) } }],
    });
    const usage = await t.call('/api/usage', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: big,
    });
    expect(usage.status).toBe(413);
    const usageError = ((await usage.json()) as { error: { message: string; limitBytes: number } })
      .error;
    expect(usageError.message).toContain('1048576-byte limit');
    expect(usageError.limitBytes).toBe(1_048_576);
    expect(await ledgerRows(user)).toBe(0);

    // About 400 KB (100 records with 3.9 KB of metadata each) is inside the usage limit.
    const records = Array.from({ length: 100 }, (_, i) => ({
      ...record(user, `ok-${i}`),
      metadata: { pad: 'y'.repeat(3_900) },
    }));
    const accepted = await t.call('/api/usage', { method: 'POST', json: { records } });
    expect(accepted.status).toBe(200);
    expect(await ledgerRows(user)).toBe(100);

    const billing = await t.call('/api/billing/upgrade', {
      method: 'POST',
      json: { userId: user, planId: 'pro', interval: 'month', pad: 'z'.repeat(200 * 1024) },
    });
    expect(billing.status).toBe(413);
    expect(((await billing.json()) as { error: { message: string } }).error.message).toContain(
      '102400-byte limit',
    );
  });
});
