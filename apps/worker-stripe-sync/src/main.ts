import { loadOrExit } from '@billing/config';
import { createDb } from '@billing/db';
import { dbPoolMetrics } from '@billing/db/metrics';
import { rootLogger } from '@billing/logger';
import { backoffFromEnv, startEventSweepWorker } from '@billing/ops';
import { createQueue, QUEUES } from '@billing/queue';
import { queueMetrics } from '@billing/queue/metrics';
import { createWorkerConnections } from '@billing/redis';
import { createRegistry, serveWorkerProcess, shutdownEnv } from '@billing/runtime';
import { createStripeClient } from '@billing/stripe';
import { workerStripeSyncEnv } from './env.js';
import { startStripeSyncWorker } from './worker.js';

const env = loadOrExit(() => workerStripeSyncEnv());
const { SHUTDOWN_TIMEOUT_MS } = loadOrExit(() => shutdownEnv());
const logger = rootLogger().child({ app: 'worker-stripe-sync' });
const registry = createRegistry('worker-stripe-sync');

// One run at a time (concurrency 1): the backfill's pages and writes need a few connections.
const DB_POOL_CAP = 5;
const db = createDb({
  url: env.DATABASE_URL,
  max: Math.min(env.DB_POOL_MAX, DB_POOL_CAP),
  applicationName: 'worker-stripe-sync',
});
// `commands` carries the cache invalidation after a backfill writes billing state: it fails
// fast, and TTLs bound staleness.
const redis = createWorkerConnections(env.REDIS_URL, 'worker-stripe-sync', (error) =>
  logger.warn({ err: error }, 'redis connection error'),
);
const { connection, commands } = redis;

// Off unless STRIPE_SYNC_CRON is set; it needs a Stripe key to read from.
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
      cron: env.ops.STRIPE_SYNC_CRON,
      fillGaps: env.ops.STRIPE_SYNC_FILL_GAPS,
      cache: { redis: commands, prefix: env.REDIS_PREFIX },
      backoff: backoffFromEnv(env.ops),
      logger,
    })
  : undefined;
if (!env.STRIPE_SECRET_KEY && env.ops.STRIPE_SYNC_CRON) {
  logger.warn('STRIPE_SYNC_CRON is set but STRIPE_SECRET_KEY is not: the Stripe sync stays off');
}

// Event reconciliation: on by default whenever a Stripe key is configured, so an event that
// was acknowledged and then lost with Redis is recovered within one interval.
const eventSweep = env.STRIPE_SECRET_KEY
  ? await startEventSweepWorker({
      connection,
      prefix: env.REDIS_PREFIX,
      db: db.db,
      stripe: createStripeClient({
        secretKey: env.STRIPE_SECRET_KEY,
        apiBase: env.STRIPE_API_BASE,
      }),
      intervalSeconds: env.ops.STRIPE_EVENT_SWEEP_INTERVAL_SECONDS,
      overlapSeconds: env.ops.STRIPE_EVENT_SWEEP_OVERLAP_SECONDS,
      minAgeSeconds: env.ops.STRIPE_EVENT_SWEEP_MIN_AGE_SECONDS,
      registry,
      backoff: backoffFromEnv(env.ops),
      logger,
    })
  : undefined;

// Depth of the queues this process serves, and its Postgres pool use.
const depthQueues = [QUEUES.stripeSync, QUEUES.stripeEventSweep].map((name) =>
  createQueue(name, { connection, prefix: env.REDIS_PREFIX }),
);
queueMetrics(registry, depthQueues);
dbPoolMetrics(registry, {
  sql: db.sql,
  max: Math.min(env.DB_POOL_MAX, DB_POOL_CAP),
  applicationName: 'worker-stripe-sync',
});

// SIGTERM: let the running sync finish its page (a cut-short run is retried and resumes from
// the sync cursors), close the queues, then Redis and Postgres; the HTTP server last so
// /readyz reports the shutdown meanwhile. Past SHUTDOWN_TIMEOUT_MS the sockets are dropped
// and the process exits 1.
await serveWorkerProcess({
  port: env.WORKER_STRIPE_SYNC_PORT,
  logger,
  registry,
  ready: async () => {
    await db.sql`select 1`;
    await commands.ping();
    if (stripeSync && !stripeSync.worker.isRunning()) throw new Error('worker not running');
    if (eventSweep && !eventSweep.worker.isRunning()) throw new Error('event sweep not running');
  },
  steps: [
    { name: 'stripe sync', run: async () => stripeSync?.close(), force: redis.disconnect },
    { name: 'event sweep', run: async () => eventSweep?.close(), force: redis.disconnect },
    { name: 'queues', run: () => Promise.all(depthQueues.map((queue) => queue.close())) },
    { name: 'redis', run: redis.close, force: redis.disconnect },
    { name: 'postgres', run: () => db.close() },
  ],
  shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
});
logger.info(
  {
    port: env.WORKER_STRIPE_SYNC_PORT,
    cron: env.ops.STRIPE_SYNC_CRON,
    shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
  },
  'worker-stripe-sync started',
);
