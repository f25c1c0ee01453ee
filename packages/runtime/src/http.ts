import type { Server } from 'node:http';
import type { Logger } from '@billing/logger';
import express, { type ErrorRequestHandler, type RequestHandler, type Router } from 'express';
import type { Registry } from 'prom-client';
import { AppError } from './errors.js';

export interface HealthOptions {
  registry: Registry;
  /** Throws (or rejects) with a reason when the process cannot serve traffic. */
  ready: () => Promise<void>;
  /** Set once shutdown starts, so load balancers stop sending traffic. */
  isShuttingDown?: () => boolean;
}

/** `/healthz` (the process is alive), `/readyz` (its dependencies answer), `/metrics`. */
export function healthRouter(options: HealthOptions): Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  router.get('/readyz', async (_req, res) => {
    if (options.isShuttingDown?.()) {
      res.status(503).json({ ok: false, error: 'shutting_down' });
      return;
    }
    try {
      await options.ready();
      res.json({ ok: true });
    } catch (error) {
      res.status(503).json({ ok: false, error: (error as Error).message });
    }
  });
  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', options.registry.contentType);
    res.send(await options.registry.metrics());
  });
  return router;
}

/** JSON 404 for any route nobody handled. */
export const notFoundHandler: RequestHandler = (req, res) => {
  res
    .status(404)
    .json({ error: { code: 'not_found', message: `no route for ${req.method} ${req.path}` } });
};

/** Maps AppError and body-parser errors to their status; anything else is a logged 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error instanceof AppError) {
      res
        .status(error.status)
        .json({ error: { code: error.code, message: error.message, ...error.details } });
      return;
    }
    const status = typeof error?.status === 'number' ? error.status : 500;
    if (status === 413 || error?.type === 'entity.too.large') {
      res.status(413).json({
        error: { code: 'payload_too_large', message: 'request body exceeds the size limit' },
      });
      return;
    }
    if (error?.type === 'entity.parse.failed') {
      res
        .status(400)
        .json({ error: { code: 'invalid_json', message: 'request body is not valid JSON' } });
      return;
    }
    if (status >= 400 && status < 500) {
      res
        .status(status)
        .json({ error: { code: 'bad_request', message: String(error?.message ?? 'bad request') } });
      return;
    }
    logger.error({ err: error, method: req.method, path: req.path }, 'unhandled request error');
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  };
}

/** Starts listening; resolves with the server once it accepts connections. */
export function listen(app: express.Express, port: number, host = '0.0.0.0'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (error?: Error) =>
      error ? reject(error) : resolve(server),
    );
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
  });
}

/** Stops accepting connections and waits for in-flight requests (then idle sockets close). */
export function closeServer(server: Server, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, timeoutMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * The whole HTTP surface of a process that serves nothing else (the workers): `/healthz`,
 * `/readyz` and `/metrics`, JSON 404s for any other route. Resolves once it listens.
 */
export function serveHealth(
  options: HealthOptions & { port: number; logger: Logger },
): Promise<Server> {
  const app = express();
  app.use(healthRouter(options));
  app.use(notFoundHandler);
  app.use(errorHandler(options.logger));
  return listen(app, options.port);
}
