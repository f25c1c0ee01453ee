import { type ChildProcess, spawn } from 'node:child_process';
import { createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis } from '@billing/redis';
import { freePort, testRedisPrefix } from '@billing/testing';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIngressConfig } from '../src/env.js';
import { type RunningIngress, startIngress } from '../src/server.js';
import { deliver, snapshotEvent } from './deliveries.js';

/**
 * Redis outages, on a redis-server of this file's own (the shared one is never stopped):
 * while Redis is down or stalled the ingress answers 503 and acknowledges nothing; once it
 * is back, Stripe's retry of the same delivery is accepted and the job is there once.
 */
const SECRET = 'whsec_fault_redis_7c1e0b';
const prefix = testRedisPrefix('ingress-fault');
let port: number;
let redisServer: ChildProcess | undefined;
let ingress: RunningIngress;
let inspectRedis: ReturnType<typeof createRedis>;
let inspect: Queue;

/** Starts redis-server on `port` without persistence and waits until it answers PING. */
async function startRedis(): Promise<void> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  redisServer = child;
  const probe = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // Refused connections while it boots are expected; connect() reports them below.
  probe.on('error', () => undefined);
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch (error) {
      if (attempt > 100 || child.exitCode !== null) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** SIGKILL, as a crash: no goodbye to clients. */
async function killRedis(): Promise<void> {
  const child = redisServer;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  redisServer = undefined;
}

const now = () => Math.floor(Date.now() / 1000);
const ready = async () => (await fetch(`${ingress.url}/readyz`)).status;

beforeAll(async () => {
  port = await freePort();
  await startRedis();
  const config = loadIngressConfig({
    NODE_ENV: 'test',
    REDIS_URL: `redis://127.0.0.1:${port}`,
    REDIS_PREFIX: prefix,
    STRIPE_WEBHOOK_SECRETS: SECRET,
    // Short budgets keep the drill quick; the behaviour does not depend on the value.
    INGRESS_ENQUEUE_TIMEOUT_MS: '500',
    INGRESS_READY_TIMEOUT_MS: '300',
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
  // Reconnects forever, like a worker, so it survives the outages below.
  inspectRedis = createRedis(`redis://127.0.0.1:${port}`, { role: 'worker' });
  inspect = createQueue(QUEUES.stripeEvents, { connection: inspectRedis, prefix });
  // Connection errors during the outages are the point of this file.
  inspect.on('error', () => undefined);
});

afterAll(async () => {
  await ingress?.lifecycle.shutdown('test end');
  await inspect?.close();
  if (inspectRedis) await closeRedis(inspectRedis);
  await killRedis();
});

describe('ingress with Redis down or stalled', () => {
  it('answers 503 while Redis is down, then accepts the retried delivery once Redis is back', async () => {
    const warmup = snapshotEvent('evt_fault_warmup_1');
    expect((await deliver(ingress.url, warmup, { secret: SECRET })).status).toBe(200);

    await killRedis();
    const id = 'evt_fault_down_1';
    const payload = snapshotEvent(id);
    const during = await deliver(ingress.url, payload, { secret: SECRET });
    expect(during.status).toBe(503);
    expect(during.body.error?.code).toMatch(/^queue_(unavailable|timeout)$/);
    expect(await ready()).toBe(503);

    await startRedis();
    // The producer connection reconnects on its own; /readyz says when.
    await expect.poll(ready, { timeout: 60_000, interval: 50 }).toBe(200);
    // A fresh Redis without persistence: the 503'd delivery left nothing behind.
    expect(await inspect.getJob(id)).toBeUndefined();

    // Stripe retries the same event (re-signed with a new timestamp).
    const retry = await deliver(ingress.url, payload, { secret: SECRET, timestamp: now() });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual({ received: true });
    const job = await inspect.getJob(id);
    expect(job?.data.raw).toBe(payload);
    expect(
      await inspect.getJobCountByTypes('wait', 'active', 'delayed', 'completed', 'failed'),
    ).toBe(1);
  });

  it('answers 503 when Redis stalls past the enqueue timeout; the retry is then accepted and the job exists once', async () => {
    const id = 'evt_fault_stall_1';
    const payload = snapshotEvent(id);
    const before = await inspect.getJobCountByTypes(
      'wait',
      'active',
      'delayed',
      'completed',
      'failed',
    );

    // Writes (and scripts) stall for 1.5 s; PING still answers, so Redis is "up but slow".
    const admin = new Redis({ port, host: '127.0.0.1' });
    try {
      await admin.call('CLIENT', 'PAUSE', '1500', 'WRITE');
      const during = await deliver(ingress.url, payload, { secret: SECRET });
      expect(during.status).toBe(503);
      expect(during.body.error?.code).toBe('queue_timeout');
      expect(during.body.error?.message).toMatch(/500 ms/);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
      admin.disconnect();
    }

    // The stalled add may still have run once Redis resumed: then the job is whole, never
    // partial. Either way Stripe's retry answers 200 and leaves exactly one job.
    const stalled = await inspect.getJob(id);
    if (stalled) expect(stalled.data.raw).toBe(payload);
    const retry = await deliver(ingress.url, payload, { secret: SECRET, timestamp: now() });
    expect(retry.status).toBe(200);
    expect((await inspect.getJob(id))?.data.raw).toBe(payload);
    expect(
      await inspect.getJobCountByTypes('wait', 'active', 'delayed', 'completed', 'failed'),
    ).toBe(before + 1);
  });
});
