import path from 'node:path';
import type postgres from 'postgres';
import { baseChildEnv } from './env.js';
import { BENCH_SRC } from './paths.js';
import { waitFor } from './ports.js';
import { cpuSeconds, type NodeProcess, spawnNode } from './proc.js';
import { type StackTarget, startWebhookWorkerApp } from './stack.js';

/** What drains the queue in a round: the real webhook worker, or the no-op BullMQ baseline. */
export type WorkerVariant = 'noop' | 'full';

/**
 * Starts one side of the worker benchmarks: `full` is apps/worker-webhooks (with
 * `--cpu-prof` into the log folder when the bench was given it), `noop` a bare BullMQ worker
 * with the same concurrency that completes every job without work.
 */
export async function startBenchWorker(
  variant: WorkerVariant,
  target: StackTarget,
  concurrency: number,
): Promise<NodeProcess> {
  if (variant === 'full') {
    const nodeArgs = process.argv.includes('--cpu-prof')
      ? ['--cpu-prof', `--cpu-prof-dir=${target.logDir}`]
      : undefined;
    return (await startWebhookWorkerApp(target, { concurrency, nodeArgs })).proc;
  }
  if (!target.redisUrl) throw new Error('the no-op worker needs a single Redis (redisUrl)');
  const proc = spawnNode('noop-worker', path.join(BENCH_SRC, 'baseline/noop-worker.ts'), {
    cwd: path.dirname(BENCH_SRC),
    env: baseChildEnv(),
    logFile: path.join(target.logDir, 'noop.log'),
    args: [target.redisUrl, target.redisPrefix, String(concurrency)],
    log: 'pipe',
  });
  await waitFor('no-op worker ready', () => proc.tail().includes('ready'), 60_000);
  return proc;
}

/** CPU seconds used so far by each Postgres backend of the webhook worker, by pid. */
export async function workerBackendCpu(sql: postgres.Sql): Promise<Map<number, number>> {
  const rows = await sql<{ pid: number }[]>`
    select pid from pg_stat_activity
    where datname = current_database() and application_name = 'worker-webhooks'`;
  return new Map(rows.map((row) => [row.pid, cpuSeconds(row.pid)]));
}
