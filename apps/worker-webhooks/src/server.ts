import type { Logger } from '@billing/logger';
import { errorHandler, healthRouter, notFoundHandler } from '@billing/runtime';
import express from 'express';
import type { Registry } from 'prom-client';

/** The worker's own small HTTP server: `/healthz`, `/readyz`, `/metrics`, nothing else. */
export function createWorkerApp(options: {
  registry: Registry;
  ready: () => Promise<void>;
  isShuttingDown: () => boolean;
  logger: Logger;
}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(
    healthRouter({
      registry: options.registry,
      ready: options.ready,
      isShuttingDown: options.isShuttingDown,
    }),
  );
  app.use(notFoundHandler);
  app.use(errorHandler(options.logger));
  return app;
}
