/**
 * Baseline of benchmark 3 (cold reads): a bare Express app that runs, per request, exactly the
 * statements the API runs on a cache miss, straight through postgres.js (the same pool
 * settings `createDb` gives the API), with no auth, rate limit, cache or monitoring.
 *   node --import tsx src/baseline/bare-query.ts <port> <databaseUrl>
 *
 * GET /api/billing/subscription?userId=  → loadSubscription (the API's own query)
 * GET /api/billing/usage?userId=&metric= → loadSubscription + getUsageSnapshot
 */

import { loadSubscription } from '@billing/api/queries';
import { createDb } from '@billing/db';
import { getUsageSnapshot } from '@billing/usage';
import express from 'express';

const [portArg, databaseUrl] = process.argv.slice(2);
if (!portArg || !databaseUrl) throw new Error('usage: bare-query.ts <port> <databaseUrl>');
const { sql } = createDb({ url: databaseUrl, max: 10, applicationName: 'bench-bare-query' });

const app = express();
app.get('/api/billing/subscription', async (req, res) => {
  res.json({ subscription: await loadSubscription(sql, String(req.query.userId)) });
});
app.get('/api/billing/usage', async (req, res) => {
  const userId = String(req.query.userId);
  const subscription = await loadSubscription(sql, userId);
  const snapshot = await getUsageSnapshot(sql, {
    userId,
    metric: String(req.query.metric ?? 'compute_minutes'),
  });
  res.json({ subscription: subscription?.id ?? null, used: snapshot.used });
});
const server = app.listen(Number(portArg), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () =>
  server.close(() => void sql.end({ timeout: 2 }).then(() => process.exit(0))),
);
