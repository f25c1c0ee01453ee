import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  buildEvents,
  DRILL_SECRET,
  drillDatabase,
  drillDir,
  exactlyOnceReport,
  RedisCluster,
  type RunningApp,
  runId,
  type SendReport,
  sendAsStripe,
  signEvents,
  startIngressApp,
  startWebhookWorkerApp,
  truncateSyncTables,
  waitFor,
} from './support.js';

/**
 * Drill: scale-out on a Redis Cluster of three masters started here (`redis-server
 * --cluster-enabled yes` ×3, `redis-cli --cluster create`), reached through
 * REDIS_CLUSTER_NODES with a hash-tagged REDIS_PREFIX (BullMQ keeps each queue's keys in one
 * slot). First one ingress and one worker, then two ingress and three worker processes, each
 * fed its own set of events: every event applied exactly once, and the end-to-end rate of
 * both shapes printed (on this 2-core machine more processes share the same two cores, so
 * the figure shows the overhead of scale-out rather than a speed-up).
 */
const EVENTS = 1_200;
const db = await drillDatabase('scale');
const cluster = new RedisCluster(3, { appendonly: true, appendfsync: 'everysec' });
const dir = drillDir('scale-out');
const running: RunningApp[] = [];
afterAll(async () => {
  await Promise.all(running.map((app) => app.proc.stop()));
  await cluster.destroy();
});

beforeAll(async () => {
  await cluster.start();
});

async function shape(ingresses: number, workers: number) {
  await db.sql`truncate drill_applied`;
  await truncateSyncTables(db.sql);
  const target = {
    redisClusterNodes: cluster.addresses,
    redisPrefix: `{fault-scale-${runId(6)}}`,
    databaseUrl: db.url,
    secret: DRILL_SECRET,
    logDir: dir,
    logLevel: 'warn',
  };
  const apps = await Promise.all([
    ...Array.from({ length: ingresses }, (_, i) =>
      startIngressApp(target, { name: `ingress-${ingresses}x${i}` }),
    ),
    ...Array.from({ length: workers }, (_, i) =>
      startWebhookWorkerApp(target, { name: `worker-${workers}x${i}`, concurrency: 8 }),
    ),
  ]);
  running.push(...apps);
  const fronts = apps.slice(0, ingresses);

  const events = signEvents(buildEvents(EVENTS, { runId: runId(8), customers: 200 }), DRILL_SECRET);
  const started = Date.now();
  // Each ingress gets its share of the deliveries at the same time.
  const reports: SendReport[] = await Promise.all(
    fronts.map((front, i) =>
      sendAsStripe(
        front.url,
        events.filter((_, n) => n % ingresses === i),
        { concurrency: 16 },
      ),
    ),
  );
  const acknowledged = reports.flatMap((r) => [...r.acknowledged.keys()]);
  await waitFor(
    `${EVENTS} applied`,
    async () => {
      const [row] = await db.sql<
        { n: number }[]
      >`select count(distinct event_id)::int as n from drill_applied`;
      return Number(row?.n) >= EVENTS;
    },
    240_000,
    50,
  );
  const seconds = (Date.now() - started) / 1000;
  const report = await exactlyOnceReport(db.sql, acknowledged);
  // The jobs went through the cluster (not a default single Redis): it holds them, the
  // shared server has nothing under the prefix.
  const clusterClient = new Cluster(
    cluster.addresses.map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })),
  );
  const completed = await clusterClient.zcard(`${target.redisPrefix}:stripe-events:completed`);
  await clusterClient.quit();
  const single = new Redis(inject('services').redisUrl);
  const strays = await single.keys(`${target.redisPrefix}*`);
  await single.quit();
  await Promise.all(apps.map((app) => app.proc.stop()));
  running.splice(0);
  return {
    report,
    perSecond: EVENTS / seconds,
    seconds,
    unacknowledged: reports.flatMap((r) => r.unacknowledged),
    completed,
    strays,
  };
}

describe('scale-out on a three-master Redis Cluster', () => {
  it('applies every event exactly once with one ingress and one worker, and with two ingress and three workers', async () => {
    const single = await shape(1, 1);
    const scaled = await shape(2, 3);
    console.log(
      `Redis Cluster ×3: 1 ingress + 1 worker ${Math.round(single.perSecond)} events/s end to end; ` +
        `2 ingress + 3 workers ${Math.round(scaled.perSecond)} events/s (ratio ${(scaled.perSecond / single.perSecond).toFixed(2)}, ${EVENTS} events each, 2 cores)`,
    );
    for (const run of [single, scaled]) {
      expect(run.unacknowledged).toEqual([]);
      expect(run.report.acknowledged).toBe(EVENTS);
      expect(run.report.lost).toEqual([]);
      expect(run.report.wronglyIgnored).toEqual([]);
      expect(run.report.duplicated).toEqual([]);
      expect(run.report.applied).toBe(EVENTS);
      expect(run.completed).toBe(EVENTS);
      expect(run.strays).toEqual([]);
    }
  });
});
