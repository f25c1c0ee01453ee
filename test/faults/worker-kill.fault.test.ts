import { describe, expect, it } from 'vitest';
import {
  appliedCounts,
  buildEvents,
  DRILL_SECRET,
  exactlyOnceReport,
  pipelineDrill,
  runId,
  sendAsStripe,
  signEvents,
  startWebhookWorkerApp,
  waitApplied,
  waitFor,
} from './support.js';

/**
 * Drill: the webhook worker is SIGKILLed while it is busy (jobs active, transactions open),
 * then started again. BullMQ's stalled-job check gives the killed worker's active jobs back
 * to the queue once their locks expire; the `webhook_events` claim makes a re-run of an
 * event whose transaction had committed a no-op. Expect: every acknowledged event applied
 * exactly once, nothing left in the failed set.
 */
const EVENTS = 1_200;
// Short lock and stalled-check periods (if the worker reads them) keep the drill quick; with
// BullMQ's defaults (30 s each) recovery takes up to a minute and the drill still passes.
const workerEnv = { WEBHOOK_STALLED_INTERVAL_MS: '2000', WEBHOOK_LOCK_DURATION_MS: '5000' };
const drill = await pipelineDrill('worker-kill', { prefix: 'wk', concurrency: 8, workerEnv });
const { db, prefix } = drill;

describe('worker SIGKILL mid-stream, then restarted', () => {
  it('applies every acknowledged event exactly once after the killed worker’s jobs stall and are re-run', async () => {
    const events = signEvents(
      buildEvents(EVENTS, { runId: runId(8), customers: 150 }),
      DRILL_SECRET,
    );
    const sent = await sendAsStripe(drill.ingress.url, events, { concurrency: 16 });
    expect(sent.unacknowledged).toEqual([]);
    expect(sent.rejected.size).toBe(0);

    // Mid-stream: a few hundred applied, many still queued, up to 8 in flight.
    await waitFor(
      '300 events applied',
      async () => {
        const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from drill_applied`;
        return Number(row?.n) >= 300;
      },
      120_000,
      20,
    );
    const killed = drill.worker!;
    expect(await killed.proc.kill()).toBe('SIGKILL');
    // The jobs the dead worker held: active in Redis, their locks still there until they expire.
    const active = await drill.redis.lrange(`${prefix}:stripe-events:active`, 0, -1);
    const appliedBefore = new Set(
      (await db.sql<{ event_id: string }[]>`select event_id from drill_applied`).map(
        (r) => r.event_id,
      ),
    );
    expect(active.length).toBeGreaterThan(0);

    drill.worker = await startWebhookWorkerApp(drill.target, {
      name: 'worker-webhooks-2',
      concurrency: 8,
      env: workerEnv,
    });
    await waitApplied(db.sql, sent.acknowledged.keys(), 150_000);

    const report = await exactlyOnceReport(db.sql, sent.acknowledged.keys());
    // The stalled jobs were re-run: those not committed before the kill are applied now, and
    // those that had committed (job not yet marked completed) were not applied again.
    const counts = await appliedCounts(db.sql);
    for (const id of active) expect(counts.get(id)).toBe(1);
    const committedBeforeKill = active.filter((id) => appliedBefore.has(id)).length;
    console.log(
      `worker killed with ${active.length} jobs active (${committedBeforeKill} had committed), ${appliedBefore.size} of ${EVENTS} applied; all recovered`,
    );
    expect(report.lost).toEqual([]);
    expect(report.wronglyIgnored).toEqual([]);
    expect(report.duplicated).toEqual([]);
    expect(report.acknowledged).toBe(EVENTS);
    // Nothing was given up on (dead-lettered) on the way.
    expect(await drill.redis.zcard(`${prefix}:stripe-events:failed`)).toBe(0);
    const [notDone] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from webhook_events where status not in ('processed', 'ignored')`;
    expect(Number(notDone?.n)).toBe(0);
  });
});
