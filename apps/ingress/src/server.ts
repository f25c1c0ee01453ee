import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@billing/logger';
import { createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedisClient, type RedisClient, waitReady } from '@billing/redis';
import {
  closeServer,
  createLifecycle,
  createRegistry,
  type Lifecycle,
  listen,
} from '@billing/runtime';
import type { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import { createIngressApp, createIngressInternalApp } from './app.js';
import type { IngressConfig } from './env.js';

export interface RunningIngress {
  server: Server;
  /** e.g. http://127.0.0.1:3000 */
  url: string;
  port: number;
  /** The internal port: /metrics, /readyz with reasons. */
  internalServer: Server;
  /** e.g. http://127.0.0.1:9400 */
  internalUrl: string;
  queue: Queue;
  redis: RedisClient;
  registry: Registry;
  lifecycle: Lifecycle;
}

export interface StartOptions {
  logger: Logger;
  registry?: Registry;
  host?: string;
  /** Overrides the configured port (0 = any free port, for tests). */
  port?: number;
  /** Overrides INGRESS_METRICS_PORT (0 = any free port, for tests). */
  metricsPort?: number;
  /** Passed to createLifecycle: tests turn off process.exit and signal handlers. */
  exit?: boolean;
  signals?: boolean;
  now?: () => number;
}

/**
 * Connects to Redis, builds the app and listens. Start-up fails (rejects) when Redis is not
 * reachable within the enqueue timeout budget, so a broken deployment never reports ready.
 * After that, an outage only turns deliveries into 503s until Redis is back.
 *
 * Shutdown, in order: stop accepting connections and drain in-flight requests (each either
 * gets its job into Redis or a 503), then close the queue, then the Redis connection.
 */
export async function startIngress(
  config: IngressConfig,
  options: StartOptions,
): Promise<RunningIngress> {
  const logger = options.logger.child({ module: 'ingress' });
  const registry = options.registry ?? createRegistry('ingress');
  // Producer role: no offline queue, one retry, a command timeout. When Redis is down an
  // enqueue fails at once instead of piling requests up behind a reconnect.
  // Auto-pipelining: the enqueues of concurrent deliveries that are ready in the same
  // event-loop turn share one socket write and one read (bench/README.md: about a third less
  // Redis CPU per delivery, a few per cent more deliveries per second). Each delivery's
  // EVALSHA is still its own atomic script with its own answer and timeout.
  const redis = createRedisClient(
    { url: config.redisUrl, clusterNodes: config.redisClusterNodes },
    {
      role: 'producer',
      commandTimeoutMs: config.enqueueTimeoutMs,
      connectionName: 'ingress',
      autoPipelining: true,
    },
  );
  const queue = createQueue(QUEUES.stripeEvents, { connection: redis, prefix: config.redisPrefix });
  // Connection errors repeat on every reconnect attempt while Redis is down; requests
  // report their own failures, so these are warnings, not crashes.
  queue.on('error', (error) => logger.warn({ reason: error.message }, 'redis connection error'));

  try {
    const startupBudgetMs = Math.max(config.enqueueTimeoutMs, 5_000);
    await waitReady(redis, startupBudgetMs);
    await queue.waitUntilReady();
  } catch (error) {
    await queue.close().catch(() => undefined);
    await closeRedis(redis);
    throw new Error(
      `redis unreachable at start-up (${config.redisClusterNodes?.join(',') ?? config.redisUrl.replace(/\/\/[^@]*@/, '//***@')}): ${(error as Error).message}`,
    );
  }

  let lifecycle: Lifecycle | undefined;
  const app = createIngressApp({
    config,
    queue,
    redis,
    logger: options.logger,
    registry,
    isShuttingDown: () => lifecycle?.isShuttingDown() ?? false,
    now: options.now,
  });
  const server = await listen(app, options.port ?? config.port, options.host, config.server);
  const port = (server.address() as AddressInfo).port;
  const internalServer = await listen(
    createIngressInternalApp({
      config,
      redis,
      registry,
      isShuttingDown: () => lifecycle?.isShuttingDown() ?? false,
    }),
    options.metricsPort ?? config.metricsPort,
    config.metricsHost,
  ).catch(async (error: Error) => {
    await closeServer(server, 1_000);
    await queue.close().catch(() => undefined);
    await closeRedis(redis);
    throw new Error(`internal port ${config.metricsHost}:${config.metricsPort}: ${error.message}`);
  });
  const internalAddress = internalServer.address() as AddressInfo;

  lifecycle = createLifecycle(
    logger,
    [
      { name: 'http', run: () => closeServer(server, config.shutdownTimeoutMs) },
      // After the public port drained, so /readyz keeps reporting 503 while it does.
      { name: 'internal http', run: () => closeServer(internalServer, 1_000) },
      { name: 'queue', run: () => queue.close() },
      { name: 'redis', run: () => closeRedis(redis) },
    ],
    {
      exit: options.exit,
      signals: options.signals,
      stepTimeoutMs: config.shutdownTimeoutMs + 5_000,
    },
  );

  const host = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';
  const internalHost = ['0.0.0.0', '::'].includes(internalAddress.address)
    ? '127.0.0.1'
    : internalAddress.address.includes(':')
      ? `[${internalAddress.address}]`
      : internalAddress.address;
  logger.info(
    {
      port,
      metricsPort: internalAddress.port,
      metricsHost: config.metricsHost,
      prefix: config.redisPrefix,
      secretCount: config.webhookSecrets.length,
    },
    'ingress listening',
  );
  return {
    server,
    url: `http://${host}:${port}`,
    port,
    internalServer,
    internalUrl: `http://${internalHost}:${internalAddress.port}`,
    queue,
    redis,
    registry,
    lifecycle,
  };
}
