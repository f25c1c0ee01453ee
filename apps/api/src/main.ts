import { createTieredCache } from '@billing/cache';
import { loadOrExit, loadPlanList } from '@billing/config';
import { createDb, seedPlans } from '@billing/db';
import { dbPoolMetrics } from '@billing/db/metrics';
import { configureLogger, rootLogger } from '@billing/logger';
import { closeOpsQueues, createOpsQueues, opsCredentials, opsEnv } from '@billing/ops';
import { QUEUES } from '@billing/queue';
import { queueMetrics } from '@billing/queue/metrics';
import { closeRedis, createRedis } from '@billing/redis';
import { closeServer, createLifecycle, createRegistry, listen } from '@billing/runtime';
import { createStripeClient } from '@billing/stripe';
import { usageEnv } from '@billing/usage';
import { createApiApp } from './app.js';
import { billingPageConfig } from './billing-page/env.js';
import { billingPageRouter } from './billing-page/router.js';
import { loadApiConfig } from './env.js';

/**
 * Start-up: config → plan list (validated; a bad file stops the process) → Postgres,
 * seed `plans` → Redis (cache role) → cache subscriber → HTTP. SIGTERM: stop accepting,
 * drain, flush request metrics, close the cache, Redis and Postgres.
 */
configureLogger({ app: 'api' });
const logger = rootLogger();
const config = loadOrExit(loadApiConfig);
const usageConfig = loadOrExit(usageEnv);
const opsConfig = loadOrExit(() => opsEnv());
const billingPage = loadOrExit(() => billingPageConfig());
const planList = loadOrExit(() => loadPlanList(config.plansFile));

const {
  db,
  sql,
  close: closeDb,
} = createDb({
  url: config.databaseUrl,
  max: config.dbPoolMax,
  applicationName: 'billing-api',
});
await seedPlans(db, planList);
logger.info({ plans: planList.plans.map((plan) => plan.id) }, 'plan list loaded');

// Auto-pipelining: every request makes a Redis call (rate limiter, cache), so concurrent
// requests ready in the same event-loop turn share one socket write and one read (fewer
// system calls per request, which is most of a round trip's cost on small machines).
const redis = createRedis(config.redisUrl, {
  role: 'cache',
  connectionName: 'api',
  autoPipelining: true,
});
redis.on('error', (error) => logger.warn({ reason: error.message }, 'redis error'));
const registry = createRegistry('api');
const cache = createTieredCache({
  redis,
  prefix: config.redisPrefix,
  logger,
  registry,
  l1Max: config.l1Max,
});
await cache.start();

// Ops: a Queue handle per catalog queue for the dashboard, dead letters and depth metrics.
// Queues need a connection that waits for Redis rather than failing fast.
const queueConnection = createRedis(config.redisUrl, { role: 'worker', connectionName: 'api-ops' });
queueConnection.on('error', (error) =>
  logger.warn({ reason: error.message }, 'redis (ops queues) error'),
);
const opsQueues = createOpsQueues({ connection: queueConnection, prefix: config.redisPrefix });
queueMetrics(registry, Object.values(opsQueues));
dbPoolMetrics(registry, { sql, max: config.dbPoolMax, applicationName: 'billing-api' });
const credentials = opsCredentials({
  serviceToken: config.serviceToken,
  opsToken: config.opsToken,
  basicUser: opsConfig.OPS_BASIC_USER,
  basicPassword: opsConfig.OPS_BASIC_PASSWORD,
});

const stripe = config.stripeSecretKey
  ? createStripeClient({ secretKey: config.stripeSecretKey, apiBase: config.stripeApiBase })
  : undefined;
if (!stripe)
  logger.warn('STRIPE_SECRET_KEY not set: checkout, upgrade, cancel and proration answer 503');

// Subscriber-only connection: API key revocations reach this instance at once.
const revocationSubscriber = redis.duplicate();
revocationSubscriber.on('error', (error) =>
  logger.warn({ reason: error.message }, 'redis (revocation subscriber) error'),
);

let shuttingDown = false;
const api = createApiApp({
  config: {
    serviceToken: config.serviceToken,
    opsToken: config.opsToken,
    redisPrefix: config.redisPrefix,
    bodyLimitBytes: config.bodyLimitBytes,
    rateLimit: config.rateLimit,
    latencyTargets: config.latencyTargets,
    metricsFlushMs: config.metricsFlushMs,
    checkoutAllowedOrigins: config.checkoutAllowedOrigins,
    checkoutAllowLoopback: config.checkoutAllowLoopback,
    authFailures: config.authFailures,
    trustProxy: config.trustProxy,
    billingPortalReturnUrl: config.billingPortalReturnUrl,
  },
  planList,
  db,
  sql,
  redis,
  cache,
  stripe,
  logger,
  registry,
  usageConfig,
  revocationSubscriber,
  isShuttingDown: () => shuttingDown,
  pages: [
    billingPageRouter({
      sql,
      logger,
      serviceToken: config.serviceToken,
      simulator: billingPage.simulator,
      origins: billingPage.origins,
    }),
  ],
  ops: {
    queues: Object.values(opsQueues),
    stripeEventsQueue: opsQueues[QUEUES.stripeEvents],
    credentials,
  },
});

const server = await listen(api.app, config.port, '0.0.0.0', config.server);
const internalServer = await listen(api.internal, config.metricsPort, config.metricsHost);
api.recorder.start();
logger.info(
  { port: config.port, metricsPort: config.metricsPort, metricsHost: config.metricsHost },
  'api listening',
);

const lifecycle = createLifecycle(logger, [
  {
    name: 'stop accepting requests and drain',
    run: async () => {
      shuttingDown = true;
      await closeServer(server, config.shutdownTimeoutMs);
    },
  },
  // After the public port drained, so /readyz keeps reporting 503 while it does.
  { name: 'close internal port', run: () => closeServer(internalServer, 1_000) },
  { name: 'flush request metrics', run: () => api.recorder.stop() },
  { name: 'close cache subscriber', run: () => cache.close() },
  { name: 'close ops queues', run: () => closeOpsQueues(opsQueues) },
  {
    name: 'close redis',
    run: () =>
      Promise.all([
        closeRedis(redis),
        closeRedis(queueConnection),
        closeRedis(revocationSubscriber),
      ]),
  },
  { name: 'close postgres', run: () => closeDb() },
]);
void lifecycle;
