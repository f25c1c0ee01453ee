import { createServer, type Server } from 'node:http';
import type { Logger } from '@billing/logger';
import express, { type ErrorRequestHandler, type RequestHandler, type Router } from 'express';
import type { Registry } from 'prom-client';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from './env.js';
import { AppError } from './errors.js';

export interface HealthOptions {
  registry: Registry;
  /** Throws (or rejects) with a reason when the process cannot serve traffic. */
  ready: () => Promise<void>;
  /** Set once shutdown starts, so load balancers stop sending traffic. */
  isShuttingDown?: () => boolean;
}

/**
 * The internal health surface: `/healthz` (the process is alive), `/readyz` (its
 * dependencies answer, with the reason when not), `/metrics`. Serve it on the internal
 * port (`internalApp`), never on the public one: the reasons name internal hosts and the
 * metrics describe traffic.
 */
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

/**
 * The public port's probes, for load balancers that can only probe the traffic port:
 * `/healthz`, and `/readyz` as a bare 200/503 (no reason; no /metrics). Concurrent probes
 * share one dependency check, so probing the public port cannot multiply Redis or
 * Postgres round trips.
 */
export function publicHealthRouter(options: Omit<HealthOptions, 'registry'>): Router {
  const router = express.Router();
  let inFlight: Promise<boolean> | undefined;
  const check = () => {
    inFlight ??= options
      .ready()
      .then(
        () => true,
        () => false,
      )
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
  router.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  router.get('/readyz', async (_req, res) => {
    const ok = !options.isShuttingDown?.() && (await check());
    res.status(ok ? 200 : 503).json({ ok });
  });
  return router;
}

/** The internal port's app: `healthRouter` and a JSON 404 for anything else. */
export function internalApp(options: HealthOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRouter(options));
  app.use(notFoundHandler);
  return app;
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
    // Answering before the request body was read (a 401, a 413, a chunked body cut at the
    // limit): close instead of letting Node drain an unbounded body to reuse the socket.
    if (!req.complete) res.set('Connection', 'close');
    if (error instanceof AppError) {
      res
        .status(error.status)
        .json({ error: { code: error.code, message: error.message, ...error.details } });
      return;
    }
    const status = typeof error?.status === 'number' ? error.status : 500;
    if (status === 413 || error?.type === 'entity.too.large') {
      const limit = typeof error?.limit === 'number' ? ` of ${error.limit} bytes` : '';
      res.status(413).json({
        error: { code: 'payload_too_large', message: `request body exceeds the limit${limit}` },
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
      // Only messages marked safe to show (http-errors' `expose`): others can carry file
      // paths or library internals.
      const message =
        error?.expose === true && error?.message ? String(error.message) : 'bad request';
      const code =
        typeof error?.code === 'string' && error?.expose === true
          ? error.code
          : status === 404
            ? 'not_found'
            : 'bad_request';
      res.status(status).json({ error: { code, message } });
      return;
    }
    logger.error({ err: error, method: req.method, path: req.path }, 'unhandled request error');
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  };
}

/**
 * Starts listening with `limits` (timeouts and a connection cap, DEFAULT_SERVER_LIMITS when
 * omitted); resolves with the server once it accepts connections. Node checks the header
 * and request timeouts on a timer (30 s by default); here it runs every tenth of the
 * shorter timeout, so a slow client is cut close to the limit, not up to 30 s later.
 */
export function listen(
  app: express.Express,
  port: number,
  host = '0.0.0.0',
  limits: ServerLimits = DEFAULT_SERVER_LIMITS,
): Promise<Server> {
  const shortest = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(shortest / 10))),
    },
    app,
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * 413 at once when the declared Content-Length is over `limit`, before anything reads the
 * body, and the connection is closed rather than drained (draining 2 GB to keep a socket
 * alive is what an attacker wants). Chunked bodies have no declared length: the body
 * parsers count them and stop at the limit, and `errorHandler` closes those connections too.
 * The error is shaped like body-parser's, so each app's own 413 mapping answers it.
 */
export function declaredLengthLimit(limit: number): RequestHandler {
  return (req, res, next) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      res.set('Connection', 'close');
      next(
        Object.assign(new Error(`request body of ${declared} bytes exceeds ${limit}`), {
          status: 413,
          type: 'entity.too.large',
          expected: declared,
          limit,
        }),
      );
      return;
    }
    next();
  };
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
