import { Cluster, Redis, type RedisOptions } from 'ioredis';

/**
 * How a connection behaves when Redis is down:
 * - `producer`: fail fast (no offline queue, one retry) so the ingress can answer 503 and
 *   Stripe retries, instead of holding requests open.
 * - `worker`: BullMQ workers and blocking connections must never give up on a command
 *   (`maxRetriesPerRequest: null`, as BullMQ requires); they reconnect forever.
 * - `cache`: reads fall back to Postgres, so commands fail fast like a producer's.
 */
export type RedisRole = 'producer' | 'worker' | 'cache';

export interface CreateRedisOptions {
  role: RedisRole;
  /** Per-command timeout for fail-fast roles, in ms. */
  commandTimeoutMs?: number;
  connectionName?: string;
  /**
   * ioredis auto-pipelining: commands issued in the same event-loop turn go out in one write
   * (and come back in one read). Each command still succeeds or fails on its own. Useful for
   * a client many concurrent requests share (the ingress producer); never for blocking ones.
   */
  autoPipelining?: boolean;
}

const reconnectDelay = (times: number) => Math.min(50 * 2 ** Math.min(times, 10), 2_000);

export function redisOptions(options: CreateRedisOptions): RedisOptions {
  const failFast = options.role !== 'worker';
  return {
    connectionName: options.connectionName,
    maxRetriesPerRequest: failFast ? 1 : null,
    enableOfflineQueue: !failFast,
    connectTimeout: 2_000,
    commandTimeout: failFast ? (options.commandTimeoutMs ?? 2_000) : undefined,
    retryStrategy: reconnectDelay,
    // Fail-fast clients must answer "not ready" straight away instead of waiting for a
    // connection; they are created eagerly so the first request does not pay the handshake.
    lazyConnect: false,
    enableAutoPipelining: options.autoPipelining ?? false,
  };
}

/**
 * Creates an ioredis client for `url`. A `redis+cluster://host:port,host:port` style is not
 * used: set REDIS_CLUSTER_NODES instead (see createRedisCluster) when running on a cluster.
 */
export function createRedis(url: string, options: CreateRedisOptions): Redis {
  return new Redis(url, redisOptions(options));
}

/** A Redis Cluster client; queue keys must be hash-tagged through REDIS_PREFIX, e.g. `{billing}`. */
export function createRedisCluster(nodes: string[], options: CreateRedisOptions): Cluster {
  const base = redisOptions(options);
  return new Cluster(
    nodes.map((node) => {
      const url = new URL(node.includes('://') ? node : `redis://${node}`);
      return { host: url.hostname, port: Number(url.port || 6379) };
    }),
    {
      redisOptions: base,
      enableOfflineQueue: base.enableOfflineQueue,
      maxRedirections: 16,
      clusterRetryStrategy: reconnectDelay,
    },
  );
}

export type RedisClient = Redis | Cluster;

/**
 * A client for wherever the deployment's Redis is: the cluster of `clusterNodes`
 * (REDIS_CLUSTER_NODES) when given, else the single server at `url` (REDIS_URL).
 */
export function createRedisClient(
  target: { url: string; clusterNodes?: readonly string[] },
  options: CreateRedisOptions,
): RedisClient {
  return target.clusterNodes && target.clusterNodes.length > 0
    ? createRedisCluster([...target.clusterNodes], options)
    : createRedis(target.url, options);
}

/** Resolves when the client is ready, or rejects after `timeoutMs`. */
export async function waitReady(client: RedisClient, timeoutMs = 5_000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`redis not ready after ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}

/** Closes a client, falling back to disconnect if QUIT cannot be sent. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** The two connections of a scheduled worker process, with their shutdown. */
export interface WorkerConnections {
  /** BullMQ's connection (role `worker`: blocking commands, retried forever). */
  connection: Redis;
  /** Plain commands (role `cache`: fail fast), e.g. cache invalidation and /readyz's ping. */
  commands: Redis;
  /** The graceful path: QUIT both. */
  close(): Promise<void>;
  /** The forceful path: drop both sockets at once. */
  disconnect(): void;
}

/**
 * Opens a worker process's connection pair, named `<name>` and `<name>-commands` in
 * CLIENT LIST; `onError` hears the errors of both (ioredis reconnects by itself).
 */
export function createWorkerConnections(
  url: string,
  name: string,
  onError: (error: Error) => void,
): WorkerConnections {
  const connection = createRedis(url, { role: 'worker', connectionName: name });
  const commands = createRedis(url, { role: 'cache', connectionName: `${name}-commands` });
  connection.on('error', onError);
  commands.on('error', onError);
  return {
    connection,
    commands,
    close: async () => {
      await Promise.all([closeRedis(connection), closeRedis(commands)]);
    },
    disconnect: () => {
      connection.disconnect();
      commands.disconnect();
    },
  };
}
