import { createQueue, QUEUES } from '@billing/queue';
import { closeRedis, createRedis } from '@billing/redis';
import { flushPrefix } from '@billing/testing';
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  benchEnv,
  buildEvents,
  cleanupAfterAll,
  DRILL_SECRET,
  drillDatabase,
  drillDir,
  exactlyOnceReport,
  type RunningApp,
  readAcks,
  runId,
  runLoad,
  sharedRedisTarget,
  signEvents,
  startIngressApp,
  startWebhookWorkerApp,
  tempFile,
  waitApplied,
  writeRequests,
} from './support.js';

/**
 * Drill: sustained load at half the ingress capacity measured in the same run (autocannon,
 * a process of its own, open-loop at a fixed rate). Expect zero 5xx and zero errors, and
 * every delivery sent acknowledged and applied exactly once once the worker has drained.
 *
 * Length: FAULT_SOAK_SECONDS (default 20 s in CI). The worker applies far fewer events per
 * second than the ingress accepts on this 2-core machine, so the backlog a 20 s soak leaves
 * takes another minute or two to drain; run it longer by hand (e.g. FAULT_SOAK_SECONDS=180).
 */
const SOAK_SECONDS = benchEnv().FAULT_SOAK_SECONDS;
const services = inject('services');
const db = await drillDatabase('soak');
const prefix = `{fault-soak-${runId(6)}}`;
const dir = drillDir('sustained-load');
const target = sharedRedisTarget(db, prefix, dir);
let ingress: RunningApp;
let worker: RunningApp | undefined;
let redis: Redis;
let queue: ReturnType<typeof createQueue>;
cleanupAfterAll(
  () => ingress?.proc.stop(),
  () => worker?.proc.stop(),
  () => queue?.close(),
  () => redis && closeRedis(redis),
  () => flushPrefix(services.redisUrl, prefix),
);

beforeAll(async () => {
  ingress = await startIngressApp(target);
  redis = createRedis(services.redisUrl, { role: 'worker' });
  queue = createQueue(QUEUES.stripeEvents, { connection: redis, prefix });
});

describe(`sustained load at half the measured ingress capacity (${SOAK_SECONDS} s)`, () => {
  it('answers no 5xx and applies every delivery sent exactly once', async () => {
    // 1. Capacity: 3 s flat out with unique signed deliveries, then those jobs are removed.
    const calibration = signEvents(buildEvents(12_000, { runId: runId(8) }), DRILL_SECRET);
    const cap = await runLoad({
      url: ingress.url,
      path: '/webhooks/stripe',
      requestsFile: writeRequests('soak-cal', calibration),
      connections: 32,
      durationSeconds: 3,
    });
    await queue.obliterate({ force: true });
    const rate = Math.max(50, Math.floor(cap.okPerSecond / 2));

    // 2. Soak at half of it while the worker applies.
    worker = await startWebhookWorkerApp(target, { concurrency: 8 });
    // A fixed number of requests at a fixed rate: the run ends when the last one is answered,
    // so nothing is left in flight (cut off unanswered) when the generator stops.
    const count = rate * SOAK_SECONDS;
    const events = signEvents(
      buildEvents(count, { runId: runId(8), customers: 2_000 }),
      DRILL_SECRET,
    );
    const acksFile = tempFile('soak-acks');
    const load = await runLoad({
      url: ingress.url,
      path: '/webhooks/stripe',
      requestsFile: writeRequests('soak', events),
      connections: 16,
      rate,
      amount: count,
      acksFile,
    });
    const { acked, rejected } = readAcks(acksFile);
    console.log(
      `capacity ${Math.round(cap.okPerSecond)}/s → soak at ${rate}/s for ${SOAK_SECONDS} s: ${load.requests} sent, ${load.ok} acknowledged, statuses ${JSON.stringify(load.statusCodes)}, p99 ${load.latencyMs.p99} ms`,
    );
    expect(load.wrapped).toBe(0);
    expect(load.errors).toBe(0);
    expect(load.timeouts).toBe(0);
    expect(load.non2xx).toBe(0);
    expect(rejected).toEqual([]);
    expect(load.requests).toBe(count);
    expect(acked.length).toBe(count);

    // 3. Sent = applied, once each.
    const started = Date.now();
    await waitApplied(db.sql, acked, 400_000);
    const report = await exactlyOnceReport(db.sql, acked);
    console.log(`drained in ${Math.round((Date.now() - started) / 1000)} s after the load`);
    expect(report.lost).toEqual([]);
    expect(report.wronglyIgnored).toEqual([]);
    expect(report.duplicated).toEqual([]);
    expect(report.applied).toBe(acked.length);
    expect(await queue.getJobCountByTypes('failed')).toBe(0);
    expect(ingress.proc.alive() && worker.proc.alive()).toBe(true);
  });
});
