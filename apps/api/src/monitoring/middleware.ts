import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { RequestRecorder } from './recorder.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;
const UNTIMED = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Marks where a router is mounted so the timing middleware can label requests with the
 * route pattern (`/api/billing/usage`, `/api/usage/:id`), never the raw URL. Mount as
 * `app.use(base, markRouteBase, …, router)`.
 */
export const markRouteBase: RequestHandler = (req, res, next) => {
  res.locals.routeBase = req.baseUrl;
  next();
};

/**
 * Times every request (except health and metrics) and hands the sample to the recorder when
 * the response is finished. Also assigns `X-Request-Id` (the caller's, when well-formed).
 */
export function timeRequests(recorder: RequestRecorder): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const requestId =
      typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = requestId;
    res.set('X-Request-Id', requestId);
    if (UNTIMED.has(req.path)) return next();
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const base = typeof res.locals.routeBase === 'string' ? res.locals.routeBase : undefined;
      // A route declared with several paths (bull-board: `['/', '/queue/:queueName', …]`) or a
      // RegExp has no single pattern: label it by its mount point. Interpolating the array
      // put every path, comma-joined, into one label value.
      const declared: unknown = req.route?.path;
      const route = typeof declared === 'string' ? declared : undefined;
      const endpoint =
        route !== undefined
          ? `${base ?? ''}${route === '/' && base ? '' : route}`
          : base
            ? `${base}/*`
            : 'unmatched';
      recorder.record({
        method: req.method,
        endpoint,
        status: res.statusCode,
        durationMs,
        requestId,
        userId: typeof res.locals.userId === 'string' ? res.locals.userId : undefined,
      });
    });
    next();
  };
}
