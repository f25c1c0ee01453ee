import express, { type Router } from 'express';
import { performanceQuery } from '../http/schemas.js';
import { parseInput } from '../http/validation.js';
import { performanceReport } from '../monitoring/report.js';
import type { OpsDeps } from './index.js';

/** `GET /api/ops/performance?window=1h|24h|7d`: response times per endpoint and overall. */
export function performanceRouter(deps: OpsDeps): Router {
  const router = express.Router();
  router.get('/performance', async (req, res) => {
    const { window } = parseInput(performanceQuery, req.query, 'query');
    // Include what this instance has not written yet, so the report is current.
    await deps.recorder.flush();
    res.set('Cache-Control', 'no-store');
    res.json(await performanceReport(deps.sql, window, deps.latencyTargets, deps.now()));
  });
  return router;
}
