import { type ChildProcessByStdio, spawn } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createDb } from '@billing/db';
import { rootLogger } from '@billing/logger';
import { addJob, createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis } from '@billing/redis';
import { createRegistry } from '@billing/runtime';
import { startFakeStripe } from '@billing/stripe-fake';
import { freePort, useTestServices } from '@billing/testing';
import { ingestUsage } from '@billing/usage';
import { QueueEvents } from 'bullmq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NIGHTLY_SCHEDULER_ID, startUsageWorker, type UsageWorker } from '../src/worker.js';

const services = await useTestServices('usage-worker');
const { sql, close } = createDb({ url: services.databaseUrl, max: 6 });
const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const logger = rootLogger();
const connections: ReturnType<typeof createRedis>[] = [];
const workers: UsageWorker[] = [];

afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await Promise.all(connections.map((c) => closeRedis(c)));
  await close();
});

const CHUNK_SIZE = 7;

async function start(
  cron = '0 2 * * *',
  prefix = services.redisPrefix,
  meterReporting?: Parameters<typeof startUsageWorker>[0]['meterReporting'],
) {
  const connection = createRedis(services.redisUrl, { role: 'worker' });
  connections.push(connection);
  const worker = await startUsageWorker({
    sql,
    connection,
    prefix,
    logger,
    registry: createRegistry('worker-usage-test'),
    chunkSize: CHUNK_SIZE,
    cron,
    meterReporting,
  });
  workers.push(worker);
  return worker;
}

const config = {
  freePeriod: 'calendar_month' as const,
  freeEpoch: new Date('2024-01-01T00:00:00Z'),
  lateGraceMs: 48 * 3600_000,
  latePolicy: 'adjust' as const,
  maxFutureSkewMs: 300_000,
};
async function seedUsage(userId: string, count: number) {
  const now = new Date();
  const records = Array.from({ length: count }, (_, i) => ({
    userId,
    metric: 'compute_minutes',
    quantity: 1 + (i % 3),
    occurredAt: now.toISOString(),
    idempotencyKey: `${userId}-${i}`,
  }));
  // One transaction per CHUNK_SIZE records: a roll-up chunk never splits one transaction's rows.
  for (let i = 0; i < records.length; i += CHUNK_SIZE) {
    const batch = records.slice(i, i + CHUNK_SIZE);
    await ingestUsage(sql, batch, { atomic: true, metrics: ['compute_minutes'], now, config });
  }
  await waitForHorizon();
}

/**
 * A roll-up folds the rows below the cluster's transaction horizon (pg_snapshot_xmin), which
 * a write transaction open in another test file's database can hold back: wait until it has
 * passed every row seeded here, so the next run can fold them all.
 */
async function waitForHorizon() {
  for (let i = 0; i < 3000; i++) {
    const [row] = await sql`
      select coalesce(pg_snapshot_xmin(pg_current_snapshot()) > max(txid), true) as ready from usage_ledger`;
    if (row!.ready) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the transaction horizon never passed the seeded usage rows');
}
function queueEvents(name: string) {
  const connection = createRedis(services.redisUrl, { role: 'worker' });
  connections.push(connection);
  return new QueueEvents(name, { connection, prefix: services.redisPrefix });
}
const totals = async (userId: string) => {
  const [row] = await sql`
    select (select coalesce(sum(quantity), 0) from usage_ledger where user_id = ${userId})::int as direct,
           (select coalesce(sum(quantity), 0) from usage_aggregates where user_id = ${userId})::int as folded,
           (select count(*) from usage_ledger l
            left join usage_aggregates a
              on a.user_id = l.user_id and a.metric = l.metric and a.period_start = l.period_start
            where l.user_id = ${userId} and l.txid >= coalesce(a.through_txid, '0'::xid8))::int as tail`;
  return row as { direct: number; folded: number; tail: number };
};

describe('nightly scheduler', () => {
  it('three workers starting at once register one scheduler with one pending job', async () => {
    const started = await Promise.all([start(), start(), start()]);
    const queue = started[0]!.queue;
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers).toHaveLength(1);
    expect(schedulers[0]).toMatchObject({
      key: NIGHTLY_SCHEDULER_ID,
      pattern: '0 2 * * *',
      tz: 'UTC',
      name: 'usage.rollup',
    });
    expect(await queue.getDelayedCount()).toBe(1);
    const [next] = await queue.getDelayed();
    expect(next?.data).toEqual({ trigger: 'schedule' });
    expect(new Date(next!.timestamp + next!.delay).getUTCHours()).toBe(2);
  });

  it('a worker started with a new cron replaces the schedule instead of adding one', async () => {
    const worker = await start('30 3 * * *');
    const schedulers = await worker.queue.getJobSchedulers();
    expect(schedulers.map((s) => s.pattern)).toEqual(['30 3 * * *']);
    expect(await worker.queue.getDelayedCount()).toBe(1);
  });
});

describe('roll-up jobs', () => {
  it('a manual job for one user folds that user and reports progress on the job', async () => {
    await seedUsage('job_user', 30);
    await seedUsage('other_user', 5);
    const queue = workers[0]!.queue;
    const events = queueEvents(queue.name);
    await events.waitUntilReady();
    const progress: unknown[] = [];
    events.on('progress', ({ data }) => progress.push(data));
    const job = await addJob(queue, 'usage.rollup', { userId: 'job_user', trigger: 'manual' });
    const result = await job.waitUntilFinished(events, 60_000);
    await events.close();
    expect(result).toMatchObject({ status: 'completed', rowsClaimed: 30, chunks: 5 });
    expect(progress.length).toBeGreaterThanOrEqual(5);
    expect(progress.at(-1)).toMatchObject({ rowsClaimed: 30, done: true });
    const folded = await totals('job_user');
    expect(folded.tail).toBe(0);
    expect(folded.folded).toBe(folded.direct);
    expect((await totals('other_user')).tail).toBe(5);
  });

  it('a job with an invalid payload fails without retries', async () => {
    const queue = workers[0]!.queue;
    const events = queueEvents(queue.name);
    await events.waitUntilReady();
    const job = await queue.add('usage.rollup', { trigger: 'whenever' }, { attempts: 5 });
    await expect(job.waitUntilFinished(events, 60_000)).rejects.toThrow(/invalid payload/);
    const failed = await queue.getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1);
    await events.close();
  });
});

/** Every process a test here started; afterEach stops any still running, pass or fail. */
interface NodeProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  exited: Promise<number | null>;
  output: () => { stdout: string; stderr: string };
}
const started: NodeProcess[] = [];
afterEach(async () => {
  for (const proc of started.splice(0)) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) continue;
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
});

async function eventuallyAnswers(
  url: string,
  proc: NodeProcess,
  timeoutMs: number,
): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) {
      throw new Error(`exited with ${proc.child.exitCode}: ${JSON.stringify(proc.output())}`);
    }
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) }).catch(
      () => undefined,
    );
    if (response) return response;
    if (Date.now() > deadline) {
      throw new Error(
        `${url} did not answer within ${timeoutMs} ms: ${JSON.stringify(proc.output())}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function runNode(args: string[], env: Record<string, string>): NodeProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: appDir,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const proc: NodeProcess = { child, exited, output: () => ({ stdout, stderr }) };
  started.push(proc);
  return proc;
}

describe('Stripe Billing Meter reporting', () => {
  it('is off by default, and when configured a completed roll-up reports the totals as meter events', async () => {
    const fake = await startFakeStripe();
    try {
      await sql`insert into customers (id, user_id, last_event_id, last_event_created) values ('cus_meter', 'meter_user', 'evt_1', now())`;
      await seedUsage('meter_user', 6); // 1+2+3+1+2+3 = 12
      const prefix = `${services.redisPrefix}meters`;
      const worker = await start('0 2 * * *', prefix, {
        client: fake.stripe,
        meters: { compute_minutes: 'minutes' },
      });
      const connection = createRedis(services.redisUrl, { role: 'worker' });
      connections.push(connection);
      const events = new QueueEvents(worker.queue.name, { connection, prefix });
      await events.waitUntilReady();
      const job = await addJob(worker.queue, 'usage.rollup', {
        userId: 'meter_user',
        trigger: 'manual',
      });
      await job.waitUntilFinished(events, 60_000);
      await events.close();
      const sent = [...fake.state.meterEvents.values()];
      expect(
        sent.map((e) => [e.event_name, e.payload.stripe_customer_id, e.payload.value]),
      ).toEqual([['minutes', 'cus_meter', '12']]);
      // the workers without meterReporting never talked to Stripe
      expect(fake.requestsTo('POST', '/v1/billing/meter_events')).toHaveLength(1);
    } finally {
      await fake.close();
    }
  });
});

describe('CLI', () => {
  it('rollup --run --user folds that user now, in this process', async () => {
    await seedUsage('cli_user', 12);
    const run = runNode(['src/cli/rollup.ts', '--run', '--user', 'cli_user', '--chunk-size', '5'], {
      REDIS_PREFIX: services.redisPrefix,
    });
    expect(await run.exited).toBe(0);
    expect(run.output().stdout).toContain('"rowsClaimed":12');
    expect((await totals('cli_user')).tail).toBe(0);
  });

  it('rollup without --run enqueues a manual job on the usage-rollup queue', async () => {
    const prefix = `${services.redisPrefix}cli`;
    const run = runNode(['src/cli/rollup.ts', '--user', 'cli_user'], { REDIS_PREFIX: prefix });
    expect(await run.exited).toBe(0);
    const { enqueued } = JSON.parse(run.output().stdout.trim()) as { enqueued: string };
    const connection = createRedis(services.redisUrl, { role: 'worker' });
    connections.push(connection);
    const queue = createQueue(QUEUES.usageRollup, { connection, prefix });
    const job = await queue.getJob(enqueued);
    expect(job?.name).toBe('usage.rollup');
    expect(job?.data).toEqual({ userId: 'cli_user', trigger: 'manual' });
    await queue.close();
  });
});

describe('process', () => {
  it('serves /healthz, /readyz and /metrics and exits 0 on SIGTERM', async () => {
    await sql`insert into usage_rollups (user_id, status, finished_at) values ('metrics_probe', 'completed', now())`;
    const port = await freePort();
    const proc = runNode(['src/main.ts'], {
      REDIS_PREFIX: `${services.redisPrefix}main`,
      WORKER_USAGE_PORT: String(port),
    });
    const base = `http://127.0.0.1:${port}`;
    // Start-up on a busy two-core machine can take many seconds: wait for the process to
    // answer (or exit) for up to a minute rather than a fixed number of attempts.
    const health = await eventuallyAnswers(`${base}/healthz`, proc, 60_000);
    expect(health.status, JSON.stringify(proc.output())).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    // Every outcome is exported from the start, at 0 in this new process.
    for (const status of ['completed', 'aborted', 'failed']) {
      expect(metrics).toMatch(
        new RegExp(`usage_rollup_runs_total\\{[^}]*status="${status}"[^}]*\\} 0\\n`),
      );
    }
    // The last success is the last completed run on record (one is recorded below, before
    // the process started), never 0 ("1970", which fired UsageRollupStale on every start).
    const [record] = await sql<{ at: number }[]>`
      select extract(epoch from max(finished_at))::float8 as at
      from usage_rollups where status = 'completed'`;
    const gauge = Number(
      /^usage_rollup_last_success_timestamp_seconds(?:\{[^}]*\})? (\S+)$/m.exec(metrics)?.[1] ??
        Number.NaN,
    );
    expect(record?.at).toBeGreaterThan(0);
    expect(gauge).toBeCloseTo(record!.at, 3);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });
});
