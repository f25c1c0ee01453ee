import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { type Router } from 'express';

export interface QueueDashboardOptions {
  queues: Queue[];
  /** Where the router is mounted; bull-board writes it into its asset and API URLs. */
  basePath: string;
  title?: string;
}

/**
 * The only mutating bull-board calls allowed: retry (one job or every failed job of a queue)
 * and clean (remove one job, or clean a status). bull-board's own `readOnlyMode` cannot be
 * used for this: it disables retries and clean along with everything else. So the adapters
 * run writable and this guard answers 405 to every other non-GET call (pause, resume, empty,
 * obliterate, add, promote, edit data, rate limits, schedulers, concurrency).
 */
const ALLOWED_WRITES: RegExp[] = [
  // Bulk: retry every failed job (not every completed one), clean a status.
  /^\/api\/queues\/[^/]+\/retry\/failed\/?$/,
  /^\/api\/queues\/[^/]+\/clean\/[^/]+\/?$/,
  // One job: retry it, remove it.
  /^\/api\/queues\/[^/]+\/[^/]+\/(retry|clean)\/?$/,
];

export function isAllowedDashboardWrite(method: string, path: string): boolean {
  return method === 'PUT' && ALLOWED_WRITES.some((pattern) => pattern.test(path));
}

/**
 * Job data as the dashboard shows it: a field holding a JSON document as a string (the
 * stripe-events job keeps the raw event body, byte for byte, in `raw`) is shown parsed, so it
 * reads as JSON rather than one long escaped string. The job itself is not changed.
 */
export function showJsonStrings(data: unknown): unknown {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return data;
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    shown[key] = value;
    if (typeof value !== 'string' || !/^\s*[[{]/.test(value)) continue;
    try {
      shown[key] = JSON.parse(value);
    } catch {
      // not JSON after all: shown as the string it is
    }
  }
  return shown;
}

/** bull-board for `queues`, with only retry and clean allowed. Mount behind ops auth. */
export function createQueueDashboard(options: QueueDashboardOptions): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(options.basePath.replace(/\/$/, ''));
  createBullBoard({
    queues: options.queues.map((queue) => {
      // BullMQAdapter's options type omits allowCompletedRetries, which its base class reads.
      const adapterOptions: ConstructorParameters<typeof BullMQAdapter>[1] & {
        allowCompletedRetries: boolean;
      } = {
        readOnlyMode: false,
        allowRetries: true,
        // Retrying completed jobs is refused below (re-applying a processed event is what the
        // replay CLI is for), so bull-board must not offer its "Retry all" on that tab.
        allowCompletedRetries: false,
      };
      const adapter = new BullMQAdapter(queue, adapterOptions);
      adapter.setFormatter('data', showJsonStrings);
      return adapter;
    }),
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: options.title ?? 'Billing queues',
        hideDocsLink: true,
      },
    },
  });

  const router = express.Router();
  router.use((req, res, next) => {
    if (
      req.method === 'GET' ||
      req.method === 'HEAD' ||
      isAllowedDashboardWrite(req.method, req.path)
    ) {
      next();
      return;
    }
    res.status(405).json({
      error: {
        code: 'read_only',
        message: 'the queue dashboard allows only retry and clean; everything else is read-only',
      },
    });
  });
  router.use(serverAdapter.getRouter() as express.Router);
  return router;
}
