import { createQueueDashboard, type OpsCredentials } from '@billing/ops';
import type { Queue } from 'bullmq';
import express, { type Router } from 'express';
import type { AuthFailureThrottle } from '../auth/rate-limit.js';
import { requireDashboardAuth } from './auth.js';

export interface QueueDashboardDeps {
  /** Every queue of the catalog (`Object.values(createOpsQueues(...))`). */
  queues: Queue[];
  credentials: OpsCredentials;
  /** Failed logins per client address (shared with the bearer auth of /api). */
  throttle?: AuthFailureThrottle;
  /** Where the router is mounted. Default `/ops/queues`. */
  basePath?: string;
}

/** bull-board behind ops auth (bearer or basic); retry and clean allowed, the rest read-only. */
export function queueDashboard(deps: QueueDashboardDeps): Router {
  const router = express.Router();
  router.use(requireDashboardAuth(deps.credentials, deps.throttle));
  router.use(
    createQueueDashboard({ queues: deps.queues, basePath: deps.basePath ?? '/ops/queues' }),
  );
  return router;
}
