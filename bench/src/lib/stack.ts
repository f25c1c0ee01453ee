import path from 'node:path';
import { baseChildEnv } from './env.js';
import type { AppName } from './paths.js';
import { freePort } from './ports.js';
import { type NodeProcess, spawnApp, waitHttpOk } from './proc.js';

export interface StackTarget {
  /** Single Redis (`redis://…`), or … */
  redisUrl?: string;
  /** … a Redis Cluster: `host:port` of its nodes (REDIS_CLUSTER_NODES). */
  redisClusterNodes?: string[];
  /** Hash-tagged (`{…}`) so it also works on a cluster. */
  redisPrefix: string;
  databaseUrl?: string;
  /** STRIPE_WEBHOOK_SECRETS. */
  secret: string;
  /** Folder for the processes' logs. */
  logDir: string;
  /** LOG_LEVEL of the apps; `info` as shipped unless a drill wants less. */
  logLevel?: string;
  nodeEnv?: 'development' | 'production' | 'test';
  /** Where the apps' stdout goes (see SpawnOptions.log). */
  log?: 'file' | 'pipe';
}

export interface RunningApp {
  proc: NodeProcess;
  port: number;
  url: string;
  /** The internal port (/metrics, /readyz with reasons) of the ingress and the API. */
  metricsUrl?: string;
}

function sharedEnv(target: StackTarget): Record<string, string> {
  const env: Record<string, string> = {
    ...baseChildEnv(),
    NODE_ENV: target.nodeEnv ?? 'development',
    LOG_LEVEL: target.logLevel ?? 'info',
    REDIS_PREFIX: target.redisPrefix,
    STRIPE_WEBHOOK_SECRETS: target.secret,
  };
  if (target.redisUrl) env.REDIS_URL = target.redisUrl;
  if (target.redisClusterNodes) env.REDIS_CLUSTER_NODES = target.redisClusterNodes.join(',');
  if (target.databaseUrl) env.DATABASE_URL = target.databaseUrl;
  return env;
}

/**
 * Starts one app as a process of its own on a free port (`portVariable`) and waits until its
 * /readyz answers 200. `env` comes last, so a caller's settings win over the shared ones.
 */
async function launch(
  app: AppName,
  target: StackTarget,
  options: {
    name?: string;
    portVariable: string;
    /** The app's internal-port variable (INGRESS_METRICS_PORT, API_METRICS_PORT). */
    metricsPortVariable?: string;
    env: Record<string, string>;
    nodeArgs?: string[];
  },
): Promise<RunningApp> {
  const port = await freePort();
  const metricsPort = options.metricsPortVariable ? await freePort() : undefined;
  const name = options.name ?? app;
  const proc = spawnApp(app, {
    name,
    env: {
      ...sharedEnv(target),
      [options.portVariable]: String(port),
      ...(options.metricsPortVariable
        ? { [options.metricsPortVariable]: String(metricsPort) }
        : {}),
      ...options.env,
    },
    logFile: path.join(target.logDir, `${name}.log`),
    nodeArgs: options.nodeArgs,
    log: target.log,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttpOk(proc, `${url}/readyz`);
  return {
    proc,
    port,
    url,
    metricsUrl: metricsPort ? `http://127.0.0.1:${metricsPort}` : undefined,
  };
}

/** `apps/ingress` as a process of its own, ready (its /readyz answers 200). */
export function startIngressApp(
  target: StackTarget,
  options: { name?: string; env?: Record<string, string>; nodeArgs?: string[] } = {},
): Promise<RunningApp> {
  return launch('ingress', target, {
    name: options.name,
    portVariable: 'INGRESS_PORT',
    metricsPortVariable: 'INGRESS_METRICS_PORT',
    env: { ...options.env },
    nodeArgs: options.nodeArgs,
  });
}

/** `apps/worker-webhooks` as a process of its own, ready. */
export function startWebhookWorkerApp(
  target: StackTarget,
  options: {
    name?: string;
    concurrency?: number;
    env?: Record<string, string>;
    nodeArgs?: string[];
  } = {},
): Promise<RunningApp> {
  if (!target.databaseUrl) throw new Error('the webhook worker needs a database');
  const env: Record<string, string> = { ...options.env };
  if (options.concurrency) env.WEBHOOK_CONCURRENCY = String(options.concurrency);
  return launch('worker-webhooks', target, {
    name: options.name,
    portVariable: 'WORKER_WEBHOOKS_PORT',
    env,
    nodeArgs: options.nodeArgs,
  });
}

/** `apps/api` as a process of its own, ready. The service token is `serviceToken`. */
export function startApiApp(
  target: StackTarget,
  options: {
    name?: string;
    serviceToken: string;
    env?: Record<string, string>;
    nodeArgs?: string[];
  },
): Promise<RunningApp> {
  if (!target.databaseUrl) throw new Error('the API needs a database');
  return launch('api', target, {
    name: options.name,
    portVariable: 'API_PORT',
    metricsPortVariable: 'API_METRICS_PORT',
    env: { BILLING_SERVICE_TOKEN: options.serviceToken, ...options.env },
    nodeArgs: options.nodeArgs,
  });
}
