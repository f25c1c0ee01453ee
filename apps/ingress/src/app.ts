import type { Logger } from '@billing/logger';
import type { RedisClient } from '@billing/redis';
import {
  AppError,
  declaredLengthLimit,
  errorHandler,
  internalApp,
  notFoundHandler,
  publicHealthRouter,
  rawBody,
  ServiceUnavailableError,
  withTimeout,
} from '@billing/runtime';
import type { Queue } from 'bullmq';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import { createEnqueuer, type EventJobName } from './enqueue.js';
import { createIngressMetrics, type Outcome } from './metrics.js';
import { createSignatureVerifier } from './verify.js';

export const WEBHOOK_PATH = '/webhooks/stripe';

export interface IngressAppConfig {
  webhookSecrets: readonly string[];
  toleranceSeconds: number;
  bodyLimitBytes: number;
  enqueueTimeoutMs: number;
  readyTimeoutMs: number;
}

export interface IngressDeps {
  config: IngressAppConfig;
  /** The `stripe-events` queue; one instance shared by all requests. */
  queue: Queue;
  /** The connection behind `queue`, pinged by /readyz. */
  redis: RedisClient;
  logger: Logger;
  registry: Registry;
  /** Set once shutdown starts, so /readyz turns 503 while in-flight requests drain. */
  isShuttingDown?: () => boolean;
  /** Clock in ms (signature tolerance, receivedAt); tests only. */
  now?: () => number;
}

/** A 4xx/5xx answered by the webhook route, with the outcome label it is counted under. */
class WebhookError extends AppError {
  constructor(
    status: number,
    readonly outcome: Outcome,
    message: string,
  ) {
    super(status, outcome, message);
  }
}

const ACCEPTED = { received: true } as const;
/** Stripe event ids: `evt_` then letters, digits, underscores. Also a safe BullMQ job id. */
const EVENT_ID = /^evt_[A-Za-z0-9_]{1,250}$/;
const JOB_BY_OBJECT: Record<string, EventJobName> = {
  event: 'stripe.event',
  'v2.core.event': 'stripe.thin-event',
};

/** `application/json`, with or without parameters such as `; charset=utf-8`. */
function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return type === 'application/json';
}

/** Checks the parsed body is a Stripe event object and picks its job; throws a 400 otherwise. */
function toJob(body: unknown): { job: EventJobName; id: string; type: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new WebhookError(
      400,
      'not_an_event',
      'body is not a Stripe event: expected a JSON object',
    );
  }
  const { id, type, object } = body as Record<string, unknown>;
  const missing = [
    typeof id === 'string' ? undefined : 'id',
    typeof type === 'string' && type.length > 0 ? undefined : 'type',
    typeof object === 'string' ? undefined : 'object',
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new WebhookError(
      400,
      'not_an_event',
      `body is not a Stripe event: missing or invalid ${missing.join(', ')}`,
    );
  }
  const job = JOB_BY_OBJECT[object as string];
  if (!job) {
    throw new WebhookError(
      400,
      'not_an_event',
      `body is not a Stripe event: object is "${String(object).slice(0, 40)}", expected "event" or "v2.core.event"`,
    );
  }
  if (!EVENT_ID.test(id as string)) {
    throw new WebhookError(
      400,
      'not_an_event',
      'body is not a Stripe event: id is not an event id (evt_…)',
    );
  }
  return { job, id: id as string, type: type as string };
}

/** Readiness: Redis answers a PING within readyTimeoutMs. */
function redisReady(deps: Pick<IngressDeps, 'redis' | 'config'>): () => Promise<void> {
  const { redis, config } = deps;
  return async () => {
    try {
      await withTimeout(
        redis.ping(),
        config.readyTimeoutMs,
        () => new Error(`redis did not answer PING within ${config.readyTimeoutMs} ms`),
      );
    } catch (error) {
      throw new Error(`redis unreachable: ${(error as Error).message}`);
    }
  };
}

/**
 * The internal port (INGRESS_METRICS_PORT): `/metrics`, `/readyz` with its reason,
 * `/healthz`. Not for the internet: Prometheus and the orchestrator reach it.
 */
export function createIngressInternalApp(
  deps: Pick<IngressDeps, 'redis' | 'config' | 'registry' | 'isShuttingDown'>,
): express.Express {
  return internalApp({
    registry: deps.registry,
    isShuttingDown: deps.isShuttingDown,
    ready: redisReady(deps),
  });
}

/**
 * The ingress HTTP app: `POST /webhooks/stripe` (verify, enqueue, answer), `/healthz` and a
 * bare `/readyz` for load balancers, and JSON errors for everything else. No business logic,
 * no database. Metrics live on the internal app (createIngressInternalApp).
 */
export function createIngressApp(deps: IngressDeps): express.Express {
  const { config, queue, registry } = deps;
  const log = deps.logger.child({ module: 'ingress' });
  const metrics = createIngressMetrics(registry, config.webhookSecrets.length);
  const verifier = createSignatureVerifier({
    secrets: config.webhookSecrets,
    toleranceSeconds: config.toleranceSeconds,
    now: deps.now,
  });
  const enqueuer = createEnqueuer(queue, {
    timeoutMs: config.enqueueTimeoutMs,
    onDuration: metrics.enqueued,
  });
  const now = deps.now ?? Date.now;

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // While draining, answer and close: a kept-alive socket would otherwise hold the drain
  // open until its idle timeout. Checked when the answer is written, not when the request
  // arrived, since the request that matters is one already in flight when SIGTERM came.
  const stopping = deps.isShuttingDown ?? (() => false);
  const closeIfStopping = (res: express.Response) => {
    if (stopping()) res.setHeader('Connection', 'close');
  };

  // Public probes only (no /metrics, no failure reasons): see createIngressInternalApp.
  app.use(publicHealthRouter({ isShuttingDown: deps.isShuttingDown, ready: redisReady(deps) }));
  // 0. A declared body over the limit is answered 413 before a byte of it is read.
  app.use(declaredLengthLimit(config.bodyLimitBytes));

  // 1. Content type first, so a form post or a missing body is named as such.
  const requireJson: RequestHandler = (req, _res, next) => {
    if (!isJson(req.headers['content-type'])) {
      throw new WebhookError(
        415,
        'unsupported_media_type',
        'Content-Type must be application/json',
      );
    }
    next();
  };
  // 2. The raw bytes, bounded: the signature covers them exactly. No decompression (Stripe
  // does not compress deliveries; inflating would let a small request expand past the limit).
  // Read with a hard stop at the limit (a chunked body is cut there, not drained).
  const readRaw = rawBody(config.bodyLimitBytes);

  const receive: RequestHandler = async (req, res) => {
    const receivedAt = now();
    const body = req.body;
    const raw = Buffer.isBuffer(body) ? body.toString('utf8') : '';

    // 3. Signature against every configured secret, before the body is parsed at all.
    const verified = verifier.verify(raw, req.headers['stripe-signature']);
    if (!verified.ok) {
      metrics.verifyFailure(verified.reason);
      throw new WebhookError(400, verified.reason, verified.message);
    }
    metrics.secretMatched(verified.secretIndex);

    // 4. A Stripe event object. Parsed once to read id/type/object; the job keeps `raw`.
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new WebhookError(400, 'invalid_json', 'request body is not valid JSON');
    }
    const { job, id, type } = toJob(parsed);

    // 5. Enqueue with jobId = event id; answer only once Redis has it (or had it already).
    try {
      await enqueuer.enqueue({
        job,
        payload: { eventId: id, type, raw, receivedAt, secretIndex: verified.secretIndex },
      });
    } catch (error) {
      const kind =
        (error as { kind?: string }).kind === 'timeout' ? 'queue_timeout' : 'queue_unavailable';
      log.warn({ eventId: id, type, reason: (error as Error).message }, 'webhook not enqueued');
      metrics.outcome(kind);
      throw new ServiceUnavailableError(
        kind,
        kind === 'queue_timeout'
          ? `the event queue did not answer within ${config.enqueueTimeoutMs} ms; retry later`
          : 'the event queue is unavailable; retry later',
      );
    }

    // 6. Answer. Which secret matched is logged so an operator knows when the old one is idle.
    metrics.outcome('accepted');
    // Debug: one line per delivery drowned everything else (the ingress_* metrics count them).
    log.debug({ eventId: id, type, job, secretIndex: verified.secretIndex }, 'webhook accepted');
    closeIfStopping(res);
    res.status(200).json(ACCEPTED);
  };

  app.post(WEBHOOK_PATH, requireJson, readRaw, receive);
  app.all(WEBHOOK_PATH, (req, res) => {
    res
      .status(405)
      .set('Allow', 'POST')
      .json({
        error: {
          code: 'method_not_allowed',
          message: `${req.method} is not allowed on ${WEBHOOK_PATH}; use POST`,
        },
      });
  });

  app.use(notFoundHandler);

  // Webhook rejections: count, log the reason (never the header or body), then answer.
  // 503s were counted and logged where they happened; anything else is a logged 500.
  const shared = errorHandler(log);
  const webhookErrors: ErrorRequestHandler = (error, req, res, next) => {
    closeIfStopping(res);
    const mapped = toWebhookError(error, config.bodyLimitBytes);
    if (mapped) {
      metrics.outcome(mapped.outcome);
      log.info({ outcome: mapped.outcome, path: req.path }, 'webhook rejected');
      shared(mapped, req, res, next);
      return;
    }
    if (req.path === WEBHOOK_PATH && !(error instanceof ServiceUnavailableError)) {
      metrics.outcome('internal');
    }
    shared(error, req, res, next);
  };
  app.use(webhookErrors);
  return app;
}

/** Maps the route's own errors and body-parser errors to a WebhookError; undefined otherwise. */
function toWebhookError(error: unknown, limit: number): WebhookError | undefined {
  if (error instanceof WebhookError) return error;
  const type = (error as { type?: unknown } | null)?.type;
  if (type === 'entity.too.large') {
    return new WebhookError(
      413,
      'payload_too_large',
      `request body exceeds the ${limit}-byte limit`,
    );
  }
  if (type === 'encoding.unsupported') {
    return new WebhookError(
      415,
      'unsupported_content_encoding',
      'Content-Encoding is not supported; send the body uncompressed',
    );
  }
  if (type === 'request.aborted' || type === 'request.size.invalid') {
    return new WebhookError(400, 'incomplete_body', 'request body ended before its Content-Length');
  }
  return undefined;
}
