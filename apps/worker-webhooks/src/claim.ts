import type { StripeEventEnvelope } from '@billing/sync';

/**
 * Claims every event of a batch in ONE statement (DESIGN invariant 2), after taking the
 * advisory locks of all the batch's customers (and customer-less objects) in one fixed,
 * sorted order, so two batches about the same customers queue instead of deadlocking.
 *
 * The claim is today's row semantics for many rows at once: insert each event marked done
 * (`processed`, or `ignored` when nothing will be written), or, for a row that exists and is
 * not done yet (an earlier failed attempt), mark it done with attempts + 1. A row already
 * `processed` / `ignored` is left alone and not returned: that event is a duplicate. The
 * marks commit or roll back with the batch's writes, so "processed" still means applied.
 * A concurrent transaction claiming the same event waits on the unique index / row lock.
 *
 * The locks come first (MATERIALIZED, and the insert reads their result), so the event rows
 * are locked only by a transaction that already holds the customers.
 */
export const CLAIM_STATEMENT = `with locks as materialized (
  select count(pg_advisory_xact_lock(hashtextextended(key, 0)))::int as n
  from (select distinct key from unnest($1::text[]) as key order by key) as k
), e as (
  select * from jsonb_to_recordset($2::text::jsonb) as x(event_id text, type text,
    api_version text, account text, livemode boolean, created timestamptz, object_id text,
    payload jsonb, status webhook_event_status)
)
insert into webhook_events as w (event_id, type, api_version, account, livemode, created,
  object_id, payload, status, attempts, processed_at)
select e.event_id, e.type, e.api_version, e.account, coalesce(e.livemode, false), e.created,
  e.object_id, e.payload, e.status, 1, now()
from e, locks where locks.n >= 0
order by e.event_id
on conflict (event_id) do update
  set status = excluded.status, attempts = w.attempts + 1, error = null, processed_at = now()
  where w.status not in ('processed', 'ignored')
returning w.event_id`;

/** A handler that found nothing to write (a guest checkout) turns its mark into `ignored`. */
export const MARK_IGNORED_STATEMENT = `update webhook_events set status = 'ignored'
where event_id = any($1::text[])`;

/**
 * The batch's event rows as ONE JSON text. The raw body the ingress verified is spliced in
 * as it is (it parsed as JSON), so a payload is not serialised again.
 */
export function claimRows(
  events: readonly {
    envelope: StripeEventEnvelope;
    raw: string;
    status: 'processed' | 'ignored';
  }[],
): string {
  const parts = events.map(({ envelope: e, raw, status }) => {
    const head = JSON.stringify({
      event_id: e.id,
      type: e.type,
      api_version: e.apiVersion,
      account: e.account,
      livemode: e.livemode,
      created: e.created,
      object_id: e.objectId,
      status,
    });
    return `${head.slice(0, -1)},"payload":${raw}}`;
  });
  return `[${parts.join(',')}]`;
}

/**
 * Records failed attempts outside the (rolled back) batch transaction, in one statement:
 * attempts + 1 and the error, and status `failed` when the event will not be retried. A row
 * already processed is never touched.
 */
export const RECORD_FAILURES_STATEMENT = `with f as (
  select * from jsonb_to_recordset($1::text::jsonb) as x(event_id text, type text,
    api_version text, account text, livemode boolean, created timestamptz, object_id text,
    payload jsonb, status webhook_event_status, error text)
)
insert into webhook_events as w (event_id, type, api_version, account, livemode, created,
  object_id, payload, status, attempts, error)
select distinct on (event_id) event_id, type, api_version, account, coalesce(livemode, false),
  created, object_id, payload, status, 1, error
from f order by event_id
on conflict (event_id) do update
  set status = excluded.status, attempts = w.attempts + 1, error = excluded.error
  where w.status not in ('processed', 'ignored')`;
