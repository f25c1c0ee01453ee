import type { Server } from 'node:http';
import { loadOrExit } from '@billing/config';
import { createDb } from '@billing/db';
import { dbPoolMetrics } from '@billing/db/metrics';
import { configureLogger, rootLogger } from '@billing/logger';
import { createQueue, QUEUES } from '@billing/queue';
import { queueMetrics } from '@billing/queue/metrics';
import { closeRedis, createRedisClient } from '@billing/redis';
import {
  closeServer,
  createLifecycle,
  createRegistry,
  listen,
  shutdownEnv,
} from '@billing/runtime';
import { createStripeClient } from '@billing/stripe';
import { createStripeRefetcher } from '@billing/sync';
import { workerEnv } from './env.js';
import { createWorkerMetrics } from './metrics.js';
import { createWorkerApp } from './server.js';
import { startWebhookWorker } from './worker.js';

const env = loadOrExit(() => workerEnv());
const { SHUTDOWN_TIMEOUT_MS } = loadOrExit(() => shutdownEnv());
configureLogger({ app: 'worker-webhooks' });
const logger = rootLogger();

// Every batch in flight holds one connection for its transaction; a few more record failed
// attempts outside it.
const poolMax = Math.max(env.DB_POOL_MAX, env.WEBHOOK_BATCHES_IN_FLIGHT + 2);
const db = createDb({
  url: env.DATABASE_URL,
  max: poolMax,
  applicationName: 'worker-webhooks',
  // Set on every connection, so an event's transaction need not send set_config each time.
  lockTimeoutMs: env.WEBHOOK_LOCK_TIMEOUT_MS,
});
// REDIS_CLUSTER_NODES, when set, points both at a Redis Cluster instead of REDIS_URL.
const redisTarget = { url: env.REDIS_URL, clusterNodes: env.REDIS_CLUSTER_NODES };
const connection = createRedisClient(redisTarget, {
  role: 'worker',
  connectionName: 'worker-webhooks',
});
// Invalidation waits for Redis to come back (worker role) instead of failing fast, bounded
// per event by the invalidation timeout.
const cache = createRedisClient(redisTarget, {
  role: 'worker',
  connectionName: 'worker-webhooks-cache',
});
connection.on('error', (error) => logger.warn({ err: error }, 'redis (queue) error'));
cache.on('error', (error) => logger.warn({ err: error }, 'redis (cache) error'));

const stripe = env.STRIPE_SECRET_KEY
  ? createStripeClient({ secretKey: env.STRIPE_SECRET_KEY, apiBase: env.STRIPE_API_BASE })
  : undefined;
if (!stripe && env.STRIPE_REFETCH_OBJECTS.size > 0) {
  logger.warn(
    'STRIPE_REFETCH_OBJECTS is set but STRIPE_SECRET_KEY is not: payloads are used as delivered',
  );
}

const registry = createRegistry('worker-webhooks');
const metrics = createWorkerMetrics(registry);
// Depth of the queue this worker drains (waiting/active/delayed/failed), and pool use.
const depthQueue = createQueue(QUEUES.stripeEvents, { connection, prefix: env.REDIS_PREFIX });
queueMetrics(registry, [depthQueue]);
dbPoolMetrics(registry, {
  sql: db.sql,
  max: poolMax,
  applicationName: 'worker-webhooks',
});

const worker = startWebhookWorker({
  db: db.db,
  redis: cache,
  redisPrefix: env.REDIS_PREFIX,
  connection,
  concurrency: env.WEBHOOK_CONCURRENCY,
  batchSize: env.WEBHOOK_BATCH_SIZE,
  batchWindowMs: env.WEBHOOK_BATCH_WINDOW_MS,
  batchesInFlight: env.WEBHOOK_BATCHES_IN_FLIGHT,
  logger,
  refetcher: stripe ? createStripeRefetcher(stripe) : undefined,
  refetchAlways: env.STRIPE_REFETCH_OBJECTS,
  refetchOnTie: env.WEBHOOK_REFETCH_ON_TIE,
  lockTimeoutMs: env.WEBHOOK_LOCK_TIMEOUT_MS,
  lockDurationMs: env.WEBHOOK_LOCK_DURATION_MS,
  stalledIntervalMs: env.WEBHOOK_STALLED_INTERVAL_MS,
  metrics,
});

let server: Server | undefined;
// SIGTERM: stop taking jobs and let the in-flight ones finish (and commit), then close the
// rest, all within SHUTDOWN_TIMEOUT_MS. Past it (say Redis is gone, so BullMQ can neither
// acknowledge a job nor close its blocking connection) the sockets are dropped and the
// process exits 1. A job cut off that way is not lost: its transaction rolls back, its lock
// expires and the stalled check re-runs it; if it had committed, the re-run is a no-op claim.
const disconnectRedis = () => {
  connection.disconnect();
  cache.disconnect();
};
const lifecycle = createLifecycle(
  logger,
  [
    { name: 'worker', run: () => worker.close(), force: () => worker.disconnect() },
    { name: 'depth queue', run: () => depthQueue.close() },
    {
      name: 'http',
      run: () => (server ? closeServer(server) : Promise.resolve()),
      force: () => server?.closeAllConnections(),
    },
    {
      name: 'redis',
      run: () => Promise.all([closeRedis(connection), closeRedis(cache)]),
      force: disconnectRedis,
    },
    { name: 'postgres', run: () => db.close() },
  ],
  { timeoutMs: SHUTDOWN_TIMEOUT_MS },
);

const app = createWorkerApp({
  registry,
  logger,
  isShuttingDown: () => lifecycle.isShuttingDown(),
  ready: async () => {
    if (!worker.isRunning()) throw new Error('worker not running');
    await db.sql`select 1`;
    if (connection.status !== 'ready') throw new Error(`redis ${connection.status}`);
  },
});
server = await listen(app, env.WORKER_WEBHOOKS_PORT);
logger.info(
  {
    port: env.WORKER_WEBHOOKS_PORT,
    concurrency: env.WEBHOOK_CONCURRENCY,
    batch: {
      size: env.WEBHOOK_BATCH_SIZE,
      windowMs: env.WEBHOOK_BATCH_WINDOW_MS,
      inFlight: env.WEBHOOK_BATCHES_IN_FLIGHT,
    },
    refetch: [...env.STRIPE_REFETCH_OBJECTS],
    stripe: stripe !== undefined,
    shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
  },
  'webhook worker started',
);
