import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  baseChildEnv,
  DRILL_SECRET,
  drillDatabase,
  drillDir,
  freePort,
  type NodeProcess,
  RedisServer,
  runId,
  sleep,
  spawnApp,
  startWebhookWorkerApp,
  waitFor,
  waitHttpOk,
} from './support.js';

/**
 * Drill: SIGTERM to a worker whose Redis is gone (its own redis-server SIGKILLed). BullMQ's
 * graceful close waits for Redis (to acknowledge jobs, and to end a blocking connection that
 * is reconnecting), so without a deadline the process never exits and the orchestrator has to
 * SIGKILL it. Asserted for both workers: with Redis up SIGTERM exits 0; with Redis gone the
 * process exits on its own with code 1 once SHUTDOWN_TIMEOUT_MS has passed; a second
 * SIGTERM exits 1 at once even with a deadline far away. "Exits" is observed as the process
 * ending by itself with that code; the wait for it is only a liveness bound (a hung worker
 * would otherwise hang the test), never a timing assertion.
 */
const SHORT_DEADLINE_MS = 1_500;
const FAR_DEADLINE_MS = 600_000;
const LIVENESS_MS = 60_000;

const db = await drillDatabase('shutdown');
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of cleanups.splice(0).reverse()) await stop().catch(() => undefined);
});

type WorkerApp = 'worker-webhooks' | 'worker-usage';

interface Started {
  proc: NodeProcess;
  url: string;
  redis: RedisServer;
}

async function startWorker(app: WorkerApp, shutdownTimeoutMs: number): Promise<Started> {
  const redis = await new RedisServer({ appendonly: false }).start();
  const dir = drillDir(`shutdown-${app}`);
  cleanups.push(async () => {
    fs.writeFileSync(path.join(dir, 'redis.log'), redis.log());
    await redis.destroy();
  });
  const env = { SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) };
  const target = {
    redisUrl: redis.url,
    redisPrefix: `{fault-sd-${runId(6)}}`,
    databaseUrl: db.url,
    secret: DRILL_SECRET,
    logDir: dir,
    logLevel: 'info',
  };
  let started: { proc: NodeProcess; url: string };
  if (app === 'worker-webhooks') {
    started = await startWebhookWorkerApp(target, { env });
  } else {
    // No helper in the bench harness for this one: it is started the same way.
    const port = await freePort();
    const proc = spawnApp('worker-usage', {
      env: {
        ...baseChildEnv(),
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        DATABASE_URL: db.url,
        REDIS_URL: redis.url,
        REDIS_PREFIX: target.redisPrefix,
        WORKER_USAGE_PORT: String(port),
        ...env,
      },
      logFile: path.join(dir, 'worker-usage.log'),
    });
    started = { proc, url: `http://127.0.0.1:${port}` };
    await waitHttpOk(proc, `${started.url}/readyz`);
  }
  cleanups.push(() => started.proc.kill());
  return { ...started, redis };
}

/** The process's own exit (code or signal), or 'still running' after the liveness bound. */
const exitOf = (proc: NodeProcess) =>
  Promise.race([proc.exited, sleep(LIVENESS_MS).then(() => 'still running' as const)]);

/** Kills the worker's Redis and waits until the worker itself reports it gone (/readyz 503). */
async function loseRedis({ proc, url, redis }: Started): Promise<void> {
  await redis.kill();
  await waitFor(
    `${proc.name} /readyz → 503 after Redis is gone`,
    async () => {
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
      await response.arrayBuffer();
      return response.status === 503;
    },
    30_000,
    100,
  );
}

const logLines = (proc: NodeProcess) =>
  fs
    .readFileSync(proc.logFile, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; [key: string]: unknown });

describe.each<WorkerApp>(['worker-webhooks', 'worker-usage'])('%s on SIGTERM', (app) => {
  it('exits 0 when Redis and Postgres are up', async () => {
    const worker = await startWorker(app, SHORT_DEADLINE_MS * 20);
    worker.proc.child.kill('SIGTERM');
    expect(await exitOf(worker.proc)).toBe(0);
    const done = logLines(worker.proc).find((line) => line.msg === 'shutdown complete');
    expect(done).toMatchObject({ code: 0, timedOut: false, failed: [] });
  });

  it('with its Redis gone, exits 1 by itself once the shutdown deadline has passed', async () => {
    const worker = await startWorker(app, SHORT_DEADLINE_MS);
    await loseRedis(worker);
    worker.proc.child.kill('SIGTERM');
    expect(await exitOf(worker.proc)).toBe(1);
    const lines = logLines(worker.proc);
    expect(lines.find((line) => line.msg === 'shutdown deadline passed')).toBeDefined();
    expect(lines.find((line) => line.msg === 'shutdown complete')).toMatchObject({
      code: 1,
      timedOut: true,
    });
  });

  it('with its Redis gone and the deadline far away, a second SIGTERM exits 1 at once', async () => {
    const worker = await startWorker(app, FAR_DEADLINE_MS);
    await loseRedis(worker);
    worker.proc.child.kill('SIGTERM');
    await waitFor(
      'shutdown under way',
      () => logLines(worker.proc).some((line) => line.msg === 'shutting down'),
      30_000,
      50,
    );
    worker.proc.child.kill('SIGTERM');
    expect(await exitOf(worker.proc)).toBe(1);
    const lines = logLines(worker.proc);
    expect(
      lines.find((line) => line.msg === 'second signal during shutdown: exiting now'),
    ).toBeDefined();
    // It was the second signal, not the (ten-minute) deadline.
    expect(lines.find((line) => line.msg === 'shutdown deadline passed')).toBeUndefined();
  });
});
