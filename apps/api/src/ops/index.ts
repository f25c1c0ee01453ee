import type { Database, Sql } from '@billing/db';
import type { Logger } from '@billing/logger';
import type { OpsCredentials } from '@billing/ops';
import type { RedisClient } from '@billing/redis';
import type { Queue } from 'bullmq';
import express, { type Router } from 'express';
import type { Registry } from 'prom-client';
import type { RequestRecorder } from '../monitoring/recorder.js';
import type { LatencyTargets } from '../monitoring/targets.js';
import { performanceRouter } from './performance.js';
import { opsRouter } from './router.js';

/**
 * What ops routes get. Extend it (additively) when a new ops surface needs more, and pass
 * the new dependency from createApiApp's deps.
 */
export interface OpsDeps {
  db: Database;
  sql: Sql;
  redis: RedisClient;
  redisPrefix: string;
  logger: Logger;
  registry: Registry;
  recorder: RequestRecorder;
  latencyTargets: LatencyTargets;
  now: () => number;
  /**
   * Dead letters, replay, db report and sync cursors (`./router.ts`). Absent in apps built
   * without queues (some tests); those routes then answer 404.
   */
  deadLetters?: { stripeEventsQueue: Queue; credentials: OpsCredentials };
}

/**
 * The JSON ops routes under `/api/ops/*`: performance report, dead letters and replay, db
 * report, sync cursors. The app authenticates the caller and admits only the ops token or a
 * service credential (`requireOps`) before this router runs. The human-facing queue
 * dashboard is mounted by the app at `/ops/queues` with its own guard, since browsers log in
 * to it with basic auth.
 *
 * Every route added here must also be documented in ../openapi.ts (a test checks that).
 */
export function opsApiRouter(deps: OpsDeps): Router {
  const router = express.Router();
  router.use(performanceRouter(deps));
  if (deps.deadLetters) {
    router.use(opsRouter({ db: deps.db, sql: deps.sql, ...deps.deadLetters }));
  }
  return router;
}
