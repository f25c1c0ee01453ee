import { loadOrExit } from '@billing/config';
import { createDb } from '@billing/db';
import { dbPoolMetrics } from '@billing/db/metrics';
import { configureLogger, rootLogger } from '@billing/logger';
import { createQueue, QUEUES } from '@billing/queue';
import { queueMetrics } from '@billing/queue/metrics';
import { createWorkerConnections } from '@billing/redis';
import { createRegistry, serveWorkerProcess, shutdownEnv } from '@billing/runtime';
import { createStripeClient } from '@billing/stripe';
import { startDriftMonitor } from './drift.js';
import { workerUsageEnv } from './env.js';
import { startUsageWorker } from './worker.js';

const env = loadOrExit(() => workerUsageEnv());
const { SHUTDOWN_TIMEOUT_MS } = loadOrExit(() => shutdownEnv());
configureLogger({ app: 'worker-usage' });
const logger = rootLogger();
const registry = createRegistry('worker-usage');

// The roll-up and the drift monitor use a few connections; capped as before the scheduled
// Stripe sync moved out to apps/worker-stripe-sync.
const db = createDb({
  url: env.DATABASE_URL,
  max: Math.min(env.DB_POOL_MAX, 8),
  applicationName: 'worker-usage',
});
const redis = createWorkerConnections(env.REDIS_URL, 'worker-usage', (error) =>
  logger.warn({ err: error }, 'redis connection error'),
);
const { connection, commands } = redis;

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
// Queue depth of the queue this process serves, and its Postgres pool use.
const depthQueue = createQueue(QUEUES.usageRollup, { connection, prefix: env.REDIS_PREFIX });
queueMetrics(registry, [depthQueue]);
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

// SIGTERM: stop the roll-up between chunks (its job is retried and resumes), close the
// worker and queue, stop the drift monitor, then Redis and Postgres; the HTTP server last so
// /readyz reports the shutdown meanwhile. All within SHUTDOWN_TIMEOUT_MS: past it (say Redis
// is gone and BullMQ's close waits for it forever) the sockets are dropped and the process
// exits 1; the interrupted roll-up rolls back and its job is re-run by the stalled check.
await serveWorkerProcess({
  port: env.WORKER_USAGE_PORT,
  logger,
  registry,
  ready: async () => {
    await db.sql`select 1`;
    await commands.ping();
    if (!usage.worker.isRunning()) throw new Error('worker not running');
  },
  steps: [
    { name: 'worker', run: () => usage.close(), force: redis.disconnect },
    { name: 'queues', run: () => depthQueue.close() },
    { name: 'drift', run: () => drift.stop() },
    { name: 'redis', run: redis.close, force: redis.disconnect },
    { name: 'postgres', run: () => db.close() },
  ],
  shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
});
logger.info(
  {
    port: env.WORKER_USAGE_PORT,
    cron: env.USAGE_ROLLUP_CRON,
    shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
  },
  'worker-usage started',
);
