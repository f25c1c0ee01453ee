import { loadOrExit } from '@billing/config';
import { createDb } from '@billing/db';
import { configureLogger, rootLogger } from '@billing/logger';
import { backoffFromEnv, opsEnv, startStripeSyncWorker } from '@billing/ops';
import { dbPoolMetrics, queueMetrics } from '@billing/ops/metrics';
import { closeRedis, createQueue, createRedis, QUEUES } from '@billing/queue';
import {
  closeServer,
  createLifecycle,
  createRegistry,
  errorHandler,
  healthRouter,
  listen,
  notFoundHandler,
  shutdownEnv,
} from '@billing/runtime';
import { createStripeClient } from '@billing/stripe';
import express from 'express';
import { startDriftMonitor } from './drift.js';
import { workerUsageEnv } from './env.js';
import { startUsageWorker } from './worker.js';

const env = loadOrExit(() => workerUsageEnv());
const ops = loadOrExit(() => opsEnv());
const { SHUTDOWN_TIMEOUT_MS } = loadOrExit(() => shutdownEnv());
configureLogger({ app: 'worker-usage' });
const logger = rootLogger();
const registry = createRegistry('worker-usage');

// The roll-up uses a few connections; the scheduled Stripe sync (when on) up to five more.
const db = createDb({
  url: env.DATABASE_URL,
  max: Math.min(env.DB_POOL_MAX, 8),
  applicationName: 'worker-usage',
});
const connection = createRedis(env.REDIS_URL, { role: 'worker', connectionName: 'worker-usage' });
const commands = createRedis(env.REDIS_URL, {
  role: 'cache',
  connectionName: 'worker-usage-commands',
});
connection.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
commands.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));

const usage = await startUsageWorker({
  sql: db.sql,
  connection,
  prefix: env.REDIS_PREFIX,
  logger,
  registry,
  chunkSize: env.USAGE_ROLLUP_CHUNK_SIZE,
  cron: env.USAGE_ROLLUP_CRON,
  meterReporting:
    Object.keys(env.USAGE_STRIPE_METERS).length > 0 && env.STRIPE_SECRET_KEY
      ? {
          client: createStripeClient({
            secretKey: env.STRIPE_SECRET_KEY,
            apiBase: env.STRIPE_API_BASE,
          }),
          meters: env.USAGE_STRIPE_METERS,
        }
      : undefined,
});
// The scheduled Stripe backfill/reconciliation (issue 6) lives in this scheduled-jobs
// process. Off unless STRIPE_SYNC_CRON is set; it needs a Stripe key.
const stripeSync = env.STRIPE_SECRET_KEY
  ? await startStripeSyncWorker({
      connection,
      prefix: env.REDIS_PREFIX,
      db: db.db,
      sql: db.sql,
      stripe: createStripeClient({
        secretKey: env.STRIPE_SECRET_KEY,
        apiBase: env.STRIPE_API_BASE,
      }),
      cron: ops.STRIPE_SYNC_CRON,
      fillGaps: ops.STRIPE_SYNC_FILL_GAPS,
      cache: { redis: commands, prefix: env.REDIS_PREFIX },
      backoff: backoffFromEnv(ops),
      logger,
    })
  : undefined;
if (!env.STRIPE_SECRET_KEY && ops.STRIPE_SYNC_CRON) {
  logger.warn('STRIPE_SYNC_CRON is set but STRIPE_SECRET_KEY is not: the Stripe sync stays off');
}

// Queue depth of the queues this process serves, and its Postgres pool use.
const depthQueues = [QUEUES.usageRollup, QUEUES.stripeSync].map((name) =>
  createQueue(name, { connection, prefix: env.REDIS_PREFIX }),
);
queueMetrics(registry, depthQueues);
dbPoolMetrics(registry, {
  sql: db.sql,
  max: Math.min(env.DB_POOL_MAX, 8),
  applicationName: 'worker-usage',
});

const drift = startDriftMonitor({
  sql: db.sql,
  redis: commands,
  prefix: env.REDIS_PREFIX,
  registry,
  logger,
  intervalMs: env.USAGE_DRIFT_INTERVAL_SECONDS * 1000,
});

let lifecycle: ReturnType<typeof createLifecycle> | undefined;
const app = express();
app.use(
  healthRouter({
    registry,
    isShuttingDown: () => lifecycle?.isShuttingDown() ?? false,
    ready: async () => {
      await db.sql`select 1`;
      await commands.ping();
      if (!usage.worker.isRunning()) throw new Error('worker not running');
    },
  }),
);
app.use(notFoundHandler);
app.use(errorHandler(logger));
const server = await listen(app, env.WORKER_USAGE_PORT);

// SIGTERM: stop the roll-up between chunks (its job is retried and resumes), close the
// worker and queue, stop the drift monitor, then Redis and Postgres; the HTTP server last so
// /readyz reports the shutdown meanwhile. All within SHUTDOWN_TIMEOUT_MS: past it (say Redis
// is gone and BullMQ's close waits for it forever) the sockets are dropped and the process
// exits 1; the interrupted roll-up rolls back and its job is re-run by the stalled check.
const disconnectRedis = () => {
  connection.disconnect();
  commands.disconnect();
};
lifecycle = createLifecycle(
  logger,
  [
    { name: 'worker', run: () => usage.close(), force: disconnectRedis },
    { name: 'stripe sync', run: async () => stripeSync?.close() },
    { name: 'queues', run: () => Promise.all(depthQueues.map((queue) => queue.close())) },
    { name: 'drift', run: () => drift.stop() },
    {
      name: 'redis',
      run: () => Promise.all([closeRedis(connection), closeRedis(commands)]),
      force: disconnectRedis,
    },
    { name: 'postgres', run: () => db.close() },
    { name: 'http', run: () => closeServer(server), force: () => server.closeAllConnections() },
  ],
  { timeoutMs: SHUTDOWN_TIMEOUT_MS },
);
logger.info(
  {
    port: env.WORKER_USAGE_PORT,
    cron: env.USAGE_ROLLUP_CRON,
    shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
  },
  'worker-usage started',
);
