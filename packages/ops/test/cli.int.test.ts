import { createDb, customers, syncCursors, webhookEvents } from '@billing/db';
import { createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis, waitReady } from '@billing/redis';
import {
  customerObject,
  type FakeStripe,
  startFakeStripe,
  stripeEvent,
} from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import type { Queue } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.js';
import { runTsx } from './support.js';

const services = await useTestServices('ops-cli');
const handle = createDb({ url: services.databaseUrl, max: 2 });
const redis = createRedis(services.redisUrl, { role: 'producer' });
const fake: FakeStripe = await startFakeStripe();
let events: Queue;
let sync: Queue;

const env: Record<string, string> = {
  NODE_ENV: 'test',
  DATABASE_URL: services.databaseUrl,
  REDIS_URL: services.redisUrl,
  REDIS_PREFIX: services.redisPrefix,
  STRIPE_SECRET_KEY: 'sk_test_ops_cli',
  STRIPE_API_BASE: fake.url,
  OPS_RATE_LIMIT_RETRIES: '2',
  OPS_RATE_LIMIT_BASE_MS: '1',
  OPS_RATE_LIMIT_MAX_MS: '5',
};

async function cli(command: Parameters<typeof runCli>[0], args: string[] = [], extraEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    command,
    args,
    { ...env, ...extraEnv },
    {
      out: (text) => out.push(text),
      err: (text) => err.push(text),
    },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  await waitReady(redis);
  events = createQueue(QUEUES.stripeEvents, { connection: redis, prefix: services.redisPrefix });
  sync = createQueue(QUEUES.stripeSync, { connection: redis, prefix: services.redisPrefix });
});
afterAll(async () => {
  await Promise.all([events.close(), sync.close()]);
  await closeRedis(redis);
  await fake.close();
  await handle.close();
});
beforeEach(async () => {
  fake.reset();
  await events.obliterate({ force: true });
  await handle.sql`truncate customers, webhook_events, sync_cursors`;
});

/** A customer object as the untyped JSON an event carries. */
const customerJson = () => customerObject() as unknown as Record<string, unknown>;

const failedRow = (eventId: string, type: string, error: string) => {
  const event = stripeEvent({
    id: eventId,
    type,
    object: customerObject({ email: `${eventId}@example.com` }),
  });
  return handle.db.insert(webhookEvents).values({
    eventId,
    type,
    created: new Date(event.created * 1000),
    payload: event,
    status: 'failed',
    attempts: 3,
    error,
  });
};

describe('dead-letters and replay CLIs', () => {
  it('lists dead letters with their reason and replays one', async () => {
    await failedRow('evt_cli_one', 'customer.created', 'PermanentSyncError: bad shape');
    await failedRow('evt_cli_two', 'customer.updated', 'PermanentSyncError: other');

    const listed = await cli('dead-letters', ['--type', 'customer.created']);
    expect(listed.code).toBe(0);
    expect(listed.out).toContain('1 dead letter(s)');
    expect(listed.out).toContain('evt_cli_one');
    expect(listed.out).toContain('PermanentSyncError: bad shape');
    expect(listed.out).not.toContain('evt_cli_two');

    const json = await cli('dead-letters', ['--json']);
    expect(
      JSON.parse(json.out)
        .deadLetters.map((d: { eventId: string }) => d.eventId)
        .sort(),
    ).toEqual(['evt_cli_one', 'evt_cli_two']);

    const replayed = await cli('replay', ['--event', 'evt_cli_one', '--json']);
    expect(replayed.code).toBe(0);
    const report = JSON.parse(replayed.out);
    expect(report).toMatchObject({ replayed: 1, skipped: 0 });
    const job = await events.getJob(report.outcomes[0].jobId);
    expect(job?.name).toBe('stripe.event');
    expect(JSON.parse(job!.data.raw).id).toBe('evt_cli_one');
    const [row] = await handle.db
      .select()
      .from(webhookEvents)
      .where(eq(webhookEvents.eventId, 'evt_cli_one'));
    expect(row?.status).toBe('received');
  });

  it('rejects a replay without a selection, a bad time and an unknown flag with exit 2', async () => {
    const none = await cli('replay');
    expect(none.code).toBe(2);
    expect(none.err).toContain('give exactly one of --event, --all');
    const badTime = await cli('dead-letters', ['--from', 'yesterday']);
    expect(badTime.code).toBe(2);
    expect(badTime.err).toContain('--from');
    const unknown = await cli('backfill', ['--resources', 'customers,charges']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown charges');
    const flag = await cli('db-report', ['--verbose']);
    expect(flag.code).toBe(2);
    const missing = await runCli('replay', ['--event', 'evt_nope'], env, {
      out: () => {},
      err: () => {},
    });
    expect(missing).toBe(1);
  });
});

describe('backfill CLI', () => {
  it('exits non-zero and says incomplete after a 429 storm, then resumes to completion', async () => {
    fake.state.seedCustomers(150, (i) => ({ email: `cli${i}@example.com` }));
    // The first page and both retries are refused.
    fake.failNext(3, 429, { path: '/v1/customers', retryAfterSeconds: 0 });
    const stormed = await cli('backfill', ['--resources', 'customers']);
    expect(stormed.code).toBe(1);
    expect(stormed.out).toContain('customers: incomplete');
    expect(stormed.err).toContain('backfill incomplete');
    const status = await cli('backfill', ['--status']);
    expect(status.out).toMatch(/customers: incomplete at start/);

    const resumed = await cli('backfill', ['--resources', 'customers', '--json']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.out)).toMatchObject({
      status: 'complete',
      resources: [{ resource: 'customers', status: 'complete', processed: 150 }],
    });
    const [{ count }] = (await handle.db
      .select({ count: sql<number>`count(*)::int` })
      .from(customers)) as [{ count: number }];
    expect(count).toBe(150);
  });

  it('the installed entry point exits non-zero when a backfill is incomplete', {
    timeout: 60_000,
  }, async () => {
    fake.state.seedCustomers(5);
    fake.failNext(3, 429, { path: '/v1/customers', retryAfterSeconds: 0 });
    const result = await runTsx('packages/ops/src/cli/backfill.ts', env, [
      '--resources',
      'customers',
    ]);
    expect(result.code).toBe(1);
    expect(result.output).toContain('backfill incomplete');
    const [cursor] = await handle.db
      .select()
      .from(syncCursors)
      .where(eq(syncCursors.id, 'customers'));
    expect(cursor?.status).toBe('incomplete');
  });
});

describe('backfill CLI output', () => {
  it('reports progress within a resource as it goes (the onProgress hook)', async () => {
    fake.state.seedCustomers(30);
    const progress: string[] = [];
    const code = await runCli('backfill', ['--resources', 'customers', '--restart'], env, {
      out: () => {},
      err: () => {},
      progress: (text) => progress.push(text),
    });
    expect(code).toBe(0);
    // One report per object, counting up within the resource; not just a total at the end.
    const counts = progress.map((line) => Number(/customers: ([\d,]+) read/.exec(line)?.[1]));
    expect(counts.length).toBeGreaterThanOrEqual(30);
    expect(counts.slice(0, 3)).toEqual([1, 2, 3]);
  });

  it('keeps logs (JSON when not a terminal) on stderr and only the summary on stdout', {
    timeout: 60_000,
  }, async () => {
    fake.state.seedCustomers(3);
    const result = await runTsx('packages/ops/src/cli/backfill.ts', { ...env, LOG_LEVEL: 'info' }, [
      '--resources',
      'customers',
      '--restart',
    ]);
    expect(result.code, result.output).toBe(0);
    const [first, second, ...rest] = result.stdout.trim().split('\n');
    expect(first).toBe('backfill complete');
    expect(second).toMatch(/^ {2}customers: complete, \d+ read/);
    // The rest is the drift sample (rows the database lacked), never a log line.
    for (const line of rest) expect(line).toMatch(/^ {6}drift cus_\w+: missing locally$/);
    // The logs did happen (LOG_LEVEL=info), on stderr, as JSON naming the CLI as the app.
    const logs = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { app?: string; msg?: string });
    expect(logs.some((log) => log.msg === 'backfill started' && log.app === 'ops-backfill')).toBe(
      true,
    );
  });

  it('answers --help without connecting to anything, and applies nothing', {
    timeout: 60_000,
  }, async () => {
    // A database URL that cannot answer: --help must not need it.
    const result = await runTsx(
      'packages/ops/src/cli/backfill.ts',
      { ...env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      ['--help'],
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^usage: backfill \[--resources products,prices/);
  });
});

describe('fill-gaps CLI', () => {
  it('enqueues the undelivered events webhook_events lacks, and only those', async () => {
    const now = Math.floor(Date.now() / 1000);
    const missing = fake.state.seedEvent(
      stripeEvent({ type: 'customer.created', object: customerJson(), created: now - 3600 }),
      { deliverySuccess: false },
    );
    const known = fake.state.seedEvent(
      stripeEvent({ type: 'customer.updated', object: customerJson(), created: now - 1800 }),
      { deliverySuccess: false },
    );
    fake.state.seedEvent(
      stripeEvent({ type: 'customer.updated', object: customerJson(), created: now - 60 }),
    );
    await handle.db.insert(webhookEvents).values({
      eventId: known.id,
      type: known.type,
      created: new Date(known.created * 1000),
      payload: known,
      status: 'processed',
    });

    const dry = await cli('fill-gaps', ['--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.out)).toMatchObject({
      status: 'complete',
      scanned: 2,
      missing: [missing.id],
      enqueued: [],
    });
    expect(await events.getJob(missing.id)).toBeUndefined();

    const filled = await cli('fill-gaps');
    expect(filled.code).toBe(0);
    expect(filled.out).toContain(
      '2 undelivered event(s) listed, 1 missing from webhook_events, 1 enqueued',
    );
    const job = await events.getJob(missing.id);
    expect(job?.name).toBe('stripe.event');
    expect(job?.data).toMatchObject({ eventId: missing.id, type: 'customer.created' });
    expect(JSON.parse(job!.data.raw)).toMatchObject({ id: missing.id, object: 'event' });
    expect(await events.getJob(known.id)).toBeUndefined();
    // Stripe was asked for undelivered events of the last 30 days only.
    const [request] = fake.requestsTo('GET', '/v1/events');
    expect(request?.query).toMatchObject({ delivery_success: 'false' });
  });
});

describe('stripe-sync CLI', () => {
  it('enqueues a manual run for the stripe-sync worker', async () => {
    const result = await cli('stripe-sync', ['--resources', 'customers,prices', '--fill-gaps']);
    expect(result.code).toBe(0);
    const id = /job (\S+)/.exec(result.out)?.[1];
    const job = await sync.getJob(id!);
    expect(job?.name).toBe('stripe.sync');
    expect(job?.data).toEqual({
      resources: ['customers', 'prices'],
      fillGaps: true,
      trigger: 'manual',
    });
  });
});
