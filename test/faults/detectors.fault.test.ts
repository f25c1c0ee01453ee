import { describe, expect, it } from 'vitest';
import { breakClaim, brokenEvents, type ClaimBreak, restoreClaim } from './broken-claim.js';
import {
  appliedCounts,
  buildEvents,
  exactlyOnceReport,
  pipelineDrill,
  queueDrained,
  runId,
  sendAsStripe,
} from './support.js';

/**
 * The drills' detectors can fail. The real ingress and webhook worker run against a database
 * whose claim is broken on purpose (broken-claim.ts: a test-only trigger, no production
 * flag); each round delivers a set of events, then delivers them all again the way Stripe
 * redelivers (after the BullMQ jobs are gone, so only the claim stands between a redelivery
 * and a second application). The detector for that break must flag exactly the events the
 * breaker touched; with the real claim every detector stays quiet.
 */
const EVENTS = 60;
const drill = await pipelineDrill('detectors', { prefix: 'det', concurrency: 4 });
const { db, prefix } = drill;
const drained = () => queueDrained(drill.redis, prefix);

/** One round: deliver, let it settle, deliver everything again, settle; the report on it. */
async function round(mode?: ClaimBreak) {
  const run = runId(8);
  const events = buildEvents(EVENTS, { runId: run, customers: 20 });
  const pattern = `evt_${run}%`;
  if (mode) await breakClaim(db.sql, mode, { pattern, everyNth: 3 });
  try {
    const first = await sendAsStripe(drill.ingress.url, events, { concurrency: 8 });
    expect(first.acknowledged.size).toBe(EVENTS);
    await drained();
    // Stripe redelivers an event it has already had acknowledged (a lost 2xx, a retry).
    // Deleting the completed jobs (their hash and completed-set entry, what BullMQ's own
    // retention does later) takes the jobId dedupe out of the way.
    const q = `${prefix}:stripe-events`;
    await drill.redis.zrem(`${q}:completed`, ...events.map((e) => e.id));
    await drill.redis.del(...events.map((e) => `${q}:${e.id}`));
    const second = await sendAsStripe(drill.ingress.url, events, { concurrency: 8 });
    expect(second.acknowledged.size).toBe(EVENTS);
    await drained();
  } finally {
    await restoreClaim(db.sql);
  }
  const ids = events.map((e) => e.id);
  const report = await exactlyOnceReport(db.sql, ids);
  const ours = (list: string[]) => list.filter((id) => id.startsWith(`evt_${run}`)).sort();
  const broken = mode ? await brokenEvents(db.sql, mode) : [];
  return {
    lost: ours(report.lost),
    wronglyIgnored: ours(report.wronglyIgnored),
    duplicated: ours(report.duplicated),
    broken: ours(broken),
  };
}

describe('the drills’ detectors', () => {
  it('stay quiet with the real claim: every event applied once, none ignored, redeliveries changed nothing', async () => {
    const r = await round();
    expect(r).toEqual({ lost: [], wronglyIgnored: [], duplicated: [], broken: [] });
  });

  it('flag exactly the events re-applied by a claim without its "not done yet" guard', async () => {
    const r = await round('reapply');
    expect(r.broken.length).toBeGreaterThan(0);
    expect(r.duplicated).toEqual(r.broken);
    expect(r.lost).toEqual([]);
  });

  it('flag exactly the events a claim dropped (taken for duplicates, never applied)', async () => {
    const r = await round('drop');
    expect(r.broken.length).toBeGreaterThan(0);
    expect(r.lost).toEqual(r.broken);
    expect(r.duplicated).toEqual([]);
  });

  it('flag exactly the events a claim marked ignored although they had to be applied', async () => {
    const r = await round('ignore');
    expect(r.broken.length).toBeGreaterThan(0);
    expect(r.wronglyIgnored).toEqual(r.broken);
    expect(r.lost).toEqual([]);
    expect(r.duplicated).toEqual([]);
  });
});

describe('the applications observer', () => {
  it('records every re-claim of a done row, which a status-transition trigger missed', async () => {
    // The claim statement as the worker writes it, minus its guard: an event already
    // processed is claimed again, status stays `processed`, attempts goes up. Three
    // committed claims must leave three applications (the old transition trigger kept one).
    const id = `evt_${runId(8)}unguarded`;
    for (let n = 0; n < 3; n++) {
      await db.sql`
        insert into webhook_events (event_id, type, created, payload, status, attempts, processed_at)
        values (${id}, 'customer.updated', now(), '{}'::jsonb, 'processed', 1, now())
        on conflict (event_id) do update
          set status = 'processed', attempts = webhook_events.attempts + 1, processed_at = now()`;
    }
    const [row] = await db.sql<{ attempts: number }[]>`
      select attempts from webhook_events where event_id = ${id}`;
    expect(row?.attempts).toBe(3);
    expect((await appliedCounts(db.sql)).get(id)).toBe(3);
    const report = await exactlyOnceReport(db.sql, [id]);
    expect(report.duplicated).toContain(id);
  });

  it('counts a claim the handler turned into ignored once, as ignored, and a rolled-back one not at all', async () => {
    const ignoredId = `evt_${runId(8)}ignored`;
    await db.sql.begin(async (tx) => {
      await tx`
        insert into webhook_events (event_id, type, created, payload, status, attempts, processed_at)
        values (${ignoredId}, 'checkout.session.completed', now(), '{}'::jsonb, 'processed', 1, now())`;
      await tx`update webhook_events set status = 'ignored' where event_id = ${ignoredId}`;
    });
    const rolledBackId = `evt_${runId(8)}rolledback`;
    await db.sql
      .begin(async (tx) => {
        await tx`
          insert into webhook_events (event_id, type, created, payload, status, attempts, processed_at)
          values (${rolledBackId}, 'customer.updated', now(), '{}'::jsonb, 'processed', 1, now())`;
        throw new Error('handler failed');
      })
      .catch(() => undefined);
    const report = await exactlyOnceReport(db.sql, [ignoredId, rolledBackId]);
    expect((await appliedCounts(db.sql)).get(ignoredId)).toBe(1);
    expect(report.wronglyIgnored).toEqual([ignoredId]);
    expect(report.lost).toEqual([rolledBackId]);
    const allowed = await exactlyOnceReport(db.sql, [ignoredId], { mayBeIgnored: [ignoredId] });
    expect(allowed.wronglyIgnored).toEqual([]);
  });
});
