import type { Server } from 'node:http';
import type { Logger } from '@billing/logger';
import type { Registry } from 'prom-client';
import { closeServer, serveHealth } from './http.js';
import { createLifecycle, type Lifecycle, type ShutdownStep } from './lifecycle.js';

export interface WorkerProcessOptions {
  logger: Logger;
  registry: Registry;
  /** The port of `/healthz`, `/readyz` and `/metrics`. */
  port: number;
  /** Throws with a reason when the process cannot do its work (what `/readyz` answers). */
  ready: () => Promise<void>;
  /**
   * What SIGTERM stops, in order (workers, queues, Redis, Postgres). The health server is
   * closed after all of them, so `/readyz` reports the shutdown while it runs.
   */
  steps: ShutdownStep[];
  /** SHUTDOWN_TIMEOUT_MS. */
  shutdownTimeoutMs: number;
}

/**
 * The HTTP surface and shutdown of a process that runs background work only: serves
 * `/healthz`, `/readyz` (503 "shutting_down" once a signal came) and `/metrics` on `port`,
 * and installs the bounded graceful shutdown with the health server as its last step.
 */
export async function serveWorkerProcess(
  options: WorkerProcessOptions,
): Promise<{ server: Server; lifecycle: Lifecycle }> {
  let lifecycle: Lifecycle | undefined;
  const server = await serveHealth({
    port: options.port,
    logger: options.logger,
    registry: options.registry,
    isShuttingDown: () => lifecycle?.isShuttingDown() ?? false,
    ready: options.ready,
  });
  lifecycle = createLifecycle(
    options.logger,
    [
      ...options.steps,
      { name: 'http', run: () => closeServer(server), force: () => server.closeAllConnections() },
    ],
    { timeoutMs: options.shutdownTimeoutMs },
  );
  return { server, lifecycle };
}
