import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { QueueAdapterOptions } from '@bull-board/api/typings/app';
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
 * What the dashboard may change. Acknowledged webhooks wait in `stripe-events` until a worker
 * runs them, so nothing that is waiting, delayed, active or paused may be deleted or re-run
 * from a browser:
 * - retry: failed jobs only (all failed jobs of a queue, or one job that is failed);
 * - clean: completed or failed jobs only (a whole status, or one job in one of them).
 * Everything else that writes (pause, resume, empty, obliterate, add, promote, edit data,
 * rate limits, schedulers, concurrency) is refused with 405. bull-board's own `readOnlyMode`
 * cannot express this (it also turns off retry and clean), so the adapters run writable
 * behind this guard, with `allowCompletedRetries: false` so the UI hides that button.
 */
const BULK_RETRY = /^\/api\/queues\/([^/]+)\/retry\/failed\/?$/;
const BULK_CLEAN = /^\/api\/queues\/([^/]+)\/clean\/(completed|failed)\/?$/;
const JOB_ACTION = /^\/api\/queues\/([^/]+)\/([^/]+)\/(retry|clean)\/?$/;

/** Job states an action may touch. */
const JOB_STATES: Record<'retry' | 'clean', readonly string[]> = {
  retry: ['failed'],
  clean: ['completed', 'failed'],
};

export type DashboardWrite =
  | { allowed: true }
  | { allowed: false; status: 405 | 404 | 409; code: string; message: string };

/** Decides one non-GET dashboard call; reads the job's state for one-job actions. */
export async function checkDashboardWrite(
  method: string,
  path: string,
  queues: ReadonlyMap<string, Queue>,
): Promise<DashboardWrite> {
  const readOnly: DashboardWrite = {
    allowed: false,
    status: 405,
    code: 'read_only',
    message:
      'the queue dashboard allows only retrying failed jobs and cleaning completed or failed ones',
  };
  if (method !== 'PUT') return readOnly;
  if (BULK_RETRY.test(path) || BULK_CLEAN.test(path)) return { allowed: true };
  const match = JOB_ACTION.exec(path);
  if (!match) return readOnly;
  const [, queueName, jobId, action] = match as unknown as [
    string,
    string,
    string,
    'retry' | 'clean',
  ];
  const queue = queues.get(decodeURIComponent(queueName));
  const job = queue ? await queue.getJob(decodeURIComponent(jobId)) : undefined;
  if (!queue || !job) {
    return { allowed: false, status: 404, code: 'not_found', message: 'no such job' };
  }
  const state = await job.getState();
  if (!JOB_STATES[action].includes(state)) {
    return {
      allowed: false,
      status: 409,
      code: 'job_state_refused',
      message: `${action} is allowed only for ${JOB_STATES[action].join(' or ')} jobs; this one is ${state}`,
    };
  }
  return { allowed: true };
}

/**
 * `allowCompletedRetries: false` hides "retry" on completed jobs (the guard refuses it
 * anyway). bull-board reads the option but its typings (9.10) do not list it yet.
 */
const ADAPTER_OPTIONS = {
  readOnlyMode: false,
  allowRetries: true,
  allowCompletedRetries: false,
} as Partial<QueueAdapterOptions>;

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
      const adapter = new BullMQAdapter(queue, ADAPTER_OPTIONS);
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

  const byName = new Map(options.queues.map((queue) => [queue.name, queue]));
  const router = express.Router();
  router.use((req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      next();
      return;
    }
    checkDashboardWrite(req.method, req.path, byName).then((decision) => {
      if (decision.allowed) {
        next();
        return;
      }
      res
        .status(decision.status)
        .json({ error: { code: decision.code, message: decision.message } });
    }, next);
  });
  router.use(serverAdapter.getRouter() as express.Router);
  return router;
}
