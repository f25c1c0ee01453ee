/**
 * Shared machinery of the fault drills: each drill starts the real apps as processes of its
 * own (the bench harness), against a database and Redis of its own, sends signed deliveries
 * the way Stripe does (retrying 5xx and connection errors), injects its fault, and checks
 * the one promise: every acknowledged event is applied exactly once, none is lost.
 *
 * "Applied" is observed, not inferred: a trigger installed in the drill's database records
 * every committed claim of an event (whatever its status was before), inside the worker's
 * own transaction, so a rolled-back attempt leaves no trace and a second application leaves
 * a second row. An application that ended `ignored` is counted apart: an event the drill
 * must see applied is lost if it was only ignored. `broken-claim.ts` breaks the claim on
 * purpose and `detectors.fault.test.ts` shows every detector here trips on it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type BuiltEvent,
  dropDatabase,
  freshDatabase,
  type NodeProcess,
  type RunningApp,
  runId,
  type SignedEvent,
  type StackTarget,
  sleep,
  startIngressApp,
  startWebhookWorkerApp,
  waitFor,
} from '@billing/bench/harness';
import { signStripePayload } from '@billing/stripe-fake';
import { flushPrefix } from '@billing/testing';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, inject } from 'vitest';

export * from '@billing/bench/harness';

export const DRILL_SECRET = 'whsec_fault_drill_3b7d1e';

/**
 * What the apps of a drill on the shared Redis connect to: a key prefix of the drill's own
 * there, the drill's database, its log folder; warnings only.
 */
export function sharedRedisTarget(
  db: { url: string },
  prefix: string,
  logDir: string,
): StackTarget {
  return {
    redisUrl: inject('services').redisUrl,
    redisPrefix: prefix,
    databaseUrl: db.url,
    secret: DRILL_SECRET,
    logDir,
    logLevel: 'warn',
  };
}

/** Folder for this drill's logs; kept after a failure so the logs can be read. */
export function drillDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `fault-${label}-`));
}

/**
 * The applications observer. One row per (event, committing transaction) that leaves the
 * event's `webhook_events` row processed or ignored after claiming it: an insert, a change
 * from a status that was not done, or a re-claim of a done row (attempts or processed_at
 * moved), the shape a claim without its guard takes. A later write in the same transaction
 * (the handler turning `processed` into `ignored`) updates that transaction's row instead
 * of adding one, so the row says how the application ended. Rolled-back attempts leave
 * nothing. It sits in the database, not the worker, so it observes any worker that claims
 * through `webhook_events`, one event or a batch per transaction.
 */
const OBSERVER_SQL = `
create table if not exists drill_applied (
  event_id text not null,
  status text not null,
  txid bigint not null default txid_current(),
  at timestamptz not null default clock_timestamp(),
  primary key (event_id, txid)
);
create or replace function drill_record_applied() returns trigger language plpgsql as $$
begin
  if new.status not in ('processed', 'ignored') then
    return new;
  end if;
  update drill_applied set status = new.status::text
    where event_id = new.event_id and txid = txid_current();
  if found then
    return new;
  end if;
  if tg_op = 'INSERT'
     or old.status not in ('processed', 'ignored')
     or new.attempts is distinct from old.attempts
     or new.processed_at is distinct from old.processed_at then
    insert into drill_applied (event_id, status) values (new.event_id, new.status::text);
  end if;
  return new;
end $$;
drop trigger if exists drill_applied on webhook_events;
create trigger drill_applied after insert or update on webhook_events
  for each row execute function drill_record_applied();
`;

export interface DrillDatabase {
  url: string;
  sql: postgres.Sql;
}

/** Installs the applied-events observer in a migrated database. */
export async function installObserver(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(OBSERVER_SQL);
}

/**
 * A fresh migrated database for one drill on the shared server (the one the `faults` project's
 * global setup found), with the observer installed; dropped after the file.
 */
export async function drillDatabase(label: string): Promise<DrillDatabase> {
  const base = inject('services').databaseUrl;
  const name = `billing_fault_${label.replace(/[^a-z0-9]/g, '_')}_${runId(6)}`;
  const url = await freshDatabase(base, name);
  const sql = postgres(url, { max: 3, onnotice: () => {} });
  await installObserver(sql);
  afterAll(async () => {
    await sql.end({ timeout: 5 });
    await dropDatabase(base, name);
  });
  return { url, sql };
}

/** How many times each event was applied (committed claims, whatever they ended as). */
export async function appliedCounts(sql: postgres.Sql): Promise<Map<string, number>> {
  const rows = await sql<{ event_id: string; n: number }[]>`
    select event_id, count(*)::int as n from drill_applied group by event_id`;
  return new Map(rows.map((r) => [r.event_id, Number(r.n)]));
}

/** Events with at least one application that ended `ignored`. */
async function ignoredEvents(sql: postgres.Sql): Promise<Set<string>> {
  const rows = await sql<{ event_id: string }[]>`
    select distinct event_id from drill_applied where status = 'ignored'`;
  return new Set(rows.map((r) => r.event_id));
}

/** Waits until every id in `ids` has been applied (or ignored) at least once. */
export async function waitApplied(
  sql: postgres.Sql,
  ids: Iterable<string>,
  timeoutMs: number,
): Promise<void> {
  const wanted = [...new Set(ids)];
  await waitFor(
    `${wanted.length} events applied`,
    async () => {
      const [row] = await sql<{ n: number }[]>`
        select count(distinct event_id)::int as n from drill_applied where event_id = any(${wanted})`;
      return Number(row?.n) >= wanted.length;
    },
    timeoutMs,
    250,
  );
}

export interface ExactlyOnceReport {
  acknowledged: number;
  /** Events applied at least once (ignored ones included). */
  applied: number;
  /** Events whose application ended `ignored` (counted apart from applied). */
  ignored: number;
  /** Acknowledged but never applied: the promise broken. */
  lost: string[];
  /** Acknowledged events that had to be applied but were only ignored: lost too. */
  wronglyIgnored: string[];
  /** Applied more than once. */
  duplicated: string[];
  /** Applied although never acknowledged (allowed: a 503'd delivery whose job did land). */
  appliedUnacknowledged: number;
}

export interface ReportOptions {
  /**
   * Acknowledged events the worker may rightly ignore (unknown types, objects without an id).
   * Every other acknowledged event must be applied, not ignored.
   */
  mayBeIgnored?: Iterable<string>;
}

export async function exactlyOnceReport(
  sql: postgres.Sql,
  acknowledged: Iterable<string>,
  options: ReportOptions = {},
): Promise<ExactlyOnceReport> {
  const counts = await appliedCounts(sql);
  const ignored = await ignoredEvents(sql);
  const acked = new Set(acknowledged);
  const mayBeIgnored = new Set(options.mayBeIgnored ?? []);
  return {
    acknowledged: acked.size,
    applied: counts.size,
    ignored: ignored.size,
    lost: [...acked].filter((id) => !counts.has(id)),
    wronglyIgnored: [...acked].filter((id) => ignored.has(id) && !mayBeIgnored.has(id)),
    duplicated: [...counts].filter(([, n]) => n > 1).map(([id]) => id),
    appliedUnacknowledged: [...counts.keys()].filter((id) => !acked.has(id)).length,
  };
}

export interface SendOptions {
  concurrency?: number;
  /** Keep retrying a delivery answered 5xx or not answered until this long after the send began. */
  retryForMs?: number;
  /** Called after each answer; a drill injects its fault from here. */
  onAnswer?: (answered: number) => void | Promise<void>;
}

export interface SendReport {
  /** Event id → when its 2xx came (ms since epoch). */
  acknowledged: Map<string, number>;
  /** Event id → status of a 4xx (never retried: a forged or malformed delivery). */
  rejected: Map<string, number>;
  /** Deliveries still not acknowledged when retrying stopped. */
  unacknowledged: string[];
  attempts: number;
  statuses: Record<string, number>;
}

/**
 * Delivers events the way Stripe does: POST the signed body; a 2xx is an acknowledgement; a
 * 5xx or a connection error is retried (re-signed with a fresh timestamp) with backoff; a 4xx
 * is final. `concurrency` deliveries are in flight at once.
 */
export async function sendAsStripe(
  url: string,
  events: readonly (BuiltEvent | SignedEvent)[],
  options: SendOptions = {},
): Promise<SendReport> {
  const concurrency = options.concurrency ?? 16;
  const deadline = Date.now() + (options.retryForMs ?? 120_000);
  const report: SendReport = {
    acknowledged: new Map(),
    rejected: new Map(),
    unacknowledged: [],
    attempts: 0,
    statuses: {},
  };
  let nextIndex = 0;
  let answered = 0;
  const one = async (event: BuiltEvent | SignedEvent) => {
    for (let attempt = 0; ; attempt++) {
      const signature =
        attempt === 0 && 'signature' in event
          ? event.signature
          : signStripePayload(event.body, DRILL_SECRET);
      let status = 0;
      report.attempts++;
      try {
        const response = await fetch(`${url}/webhooks/stripe`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json; charset=utf-8',
            'stripe-signature': signature,
          },
          body: event.body,
          signal: AbortSignal.timeout(10_000),
        });
        await response.arrayBuffer();
        status = response.status;
      } catch {
        status = 0;
      }
      report.statuses[status] = (report.statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) {
        report.acknowledged.set(event.id, Date.now());
        break;
      }
      if (status >= 400 && status < 500) {
        report.rejected.set(event.id, status);
        break;
      }
      if (Date.now() > deadline) {
        report.unacknowledged.push(event.id);
        break;
      }
      await sleep(Math.min(2_000, 50 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));
    }
    answered++;
    await options.onAnswer?.(answered);
  };
  const lanes = Array.from({ length: Math.min(concurrency, events.length) }, async () => {
    for (;;) {
      const index = nextIndex++;
      if (index >= events.length) return;
      await one(events[index]!);
    }
  });
  await Promise.all(lanes);
  return report;
}

/** Stops every process a drill started, whatever happened (afterAll). */
export function cleanupAfterAll(...stoppers: Array<() => Promise<unknown> | unknown>): void {
  afterAll(async () => {
    for (const stop of stoppers) {
      try {
        await stop();
      } catch {
        // best effort: one failed stop must not leave the others running
      }
    }
  });
}

/** Stops a process if it was started. */
export const stopProc = (get: () => NodeProcess | undefined) => async () => {
  await get()?.stop(10_000);
};

/** The ingress and the webhook worker of a pipeline drill, and what they run against. */
export interface PipelineDrill {
  db: DrillDatabase;
  prefix: string;
  dir: string;
  target: StackTarget;
  /** A plain client on the shared Redis (set before the tests run). */
  redis: Redis;
  ingress: RunningApp;
  /** Replace it when the drill restarts the worker: cleanup stops whichever runs last. */
  worker: RunningApp | undefined;
}

/**
 * The usual drill set-up: its own database and Redis prefix, the real ingress and webhook
 * worker started before the tests (the worker with `concurrency` and `workerEnv`), and
 * everything stopped and flushed after them, whatever happened.
 */
export async function pipelineDrill(
  label: string,
  options: { prefix: string; concurrency: number; workerEnv?: Record<string, string> },
): Promise<PipelineDrill> {
  const db = await drillDatabase(label.replace(/-/g, '_'));
  const dir = drillDir(label);
  const redisUrl = inject('services').redisUrl;
  const drill = {
    db,
    prefix: `{fault-${options.prefix}-${runId(6)}}`,
    dir,
    worker: undefined,
  } as PipelineDrill;
  drill.target = sharedRedisTarget(db, drill.prefix, dir);
  cleanupAfterAll(
    () => drill.ingress?.proc.stop(),
    () => drill.worker?.proc.stop(),
    () => drill.redis?.quit(),
    () => flushPrefix(redisUrl, drill.prefix),
  );
  beforeAll(async () => {
    drill.redis = new Redis(redisUrl);
    [drill.ingress, drill.worker] = await Promise.all([
      startIngressApp(drill.target),
      startWebhookWorkerApp(drill.target, {
        concurrency: options.concurrency,
        env: options.workerEnv,
      }),
    ]);
  });
  return drill;
}

/** Until no job of the drill's `stripe-events` queue is waiting, active, delayed or prioritized. */
export async function queueDrained(redis: Redis, prefix: string): Promise<void> {
  const q = `${prefix}:stripe-events`;
  await waitFor(
    'queue drained',
    async () => {
      const [wait, active, delayed, prioritized] = await Promise.all([
        redis.llen(`${q}:wait`),
        redis.llen(`${q}:active`),
        redis.zcard(`${q}:delayed`),
        redis.zcard(`${q}:prioritized`),
      ]);
      return wait + active + delayed + prioritized === 0;
    },
    60_000,
    100,
  );
}
