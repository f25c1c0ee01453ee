import { guardedUpsert, type TableSpec } from './statement.js';

/**
 * Per-table column specs of the guarded upsert (statement.ts). Column names are the tables'
 * (packages/db/src/schema); values default to the input field of the same name. Reads of a
 * customer's or subscription's user are scalar subqueries of the upsert: they run after the
 * batch took its customers' locks, so they see the latest link.
 */

const customerUser = (customerColumn: string) =>
  `(select cu.user_id from customers as cu where cu.id = ${customerColumn})`;

export const customersTable: TableSpec = {
  table: 'customers',
  key: 'id',
  columns: [
    // A customer without metadata.user_id keeps a link learnt elsewhere (checkout).
    { name: 'user_id', type: 'text', mode: 'keep' },
    { name: 'email', type: 'text' },
    { name: 'name', type: 'text' },
    { name: 'currency', type: 'text' },
    { name: 'deleted', type: 'boolean' },
    { name: 'metadata', type: 'jsonb' },
    { name: 'created_at', type: 'timestamptz', mode: 'keep' },
  ],
  userId: 't.user_id',
  // The link as it was before this write (null for a new row): a changed link back-fills.
  aux: '(select prev.user_id from customers as prev where prev.id = t.id)',
};

export const subscriptionsTable: TableSpec = {
  table: 'subscriptions',
  key: 'id',
  columns: [
    { name: 'customer_id', type: 'text' },
    {
      name: 'user_id',
      type: 'text',
      mode: 'keep',
      value: `coalesce(r.user_id, ${customerUser('r.customer_id')})`,
    },
    { name: 'status', type: 'text' },
    {
      name: 'plan_id',
      type: 'text',
      // The catalogue plan whose month/year price is this price id or its lookup key (from
      // the payload's expanded price, else the synced price row); lowest sort_order wins.
      value: `(case when r.price_id is null then null else (
        select p.id from plans as p
        where p.month_price = any(array[r.price_id, coalesce(r.price_lookup_key, (select pr.lookup_key from prices as pr where pr.id = r.price_id))])
           or p.year_price = any(array[r.price_id, coalesce(r.price_lookup_key, (select pr.lookup_key from prices as pr where pr.id = r.price_id))])
        order by p.sort_order asc limit 1) end)`,
    },
    { name: 'price_id', type: 'text' },
    { name: 'interval', type: 'text' },
    { name: 'quantity', type: 'int' },
    { name: 'current_period_start', type: 'timestamptz' },
    { name: 'current_period_end', type: 'timestamptz' },
    { name: 'cancel_at_period_end', type: 'boolean' },
    { name: 'cancel_at', type: 'timestamptz' },
    { name: 'canceled_at', type: 'timestamptz' },
    { name: 'ended_at', type: 'timestamptz' },
    { name: 'trial_start', type: 'timestamptz' },
    { name: 'trial_end', type: 'timestamptz' },
    { name: 'pause_collection', type: 'jsonb' },
    { name: 'pending_update', type: 'jsonb' },
    { name: 'schedule_id', type: 'text' },
    { name: 'metadata', type: 'jsonb' },
    { name: 'created_at', type: 'timestamptz' },
  ],
  inputs: [{ name: 'price_lookup_key', type: 'text' }],
  userId: 't.user_id',
  // The customer's current user: a subscription naming a user links a customer without one.
  aux: customerUser('t.customer_id'),
};

export const invoicesTable: TableSpec = {
  table: 'invoices',
  key: 'id',
  columns: [
    { name: 'customer_id', type: 'text' },
    { name: 'subscription_id', type: 'text', mode: 'keep' },
    {
      name: 'user_id',
      type: 'text',
      mode: 'keep',
      // The customer's user, else the subscription's, else the payload's.
      value: `coalesce(${customerUser('r.customer_id')}, (select su.user_id from subscriptions as su where su.id = r.subscription_id), r.subscription_user_id)`,
    },
    { name: 'status', type: 'text' },
    { name: 'currency', type: 'text' },
    { name: 'amount_due', type: 'bigint' },
    { name: 'amount_paid', type: 'bigint' },
    { name: 'amount_remaining', type: 'bigint' },
    { name: 'subtotal', type: 'bigint' },
    { name: 'total', type: 'bigint' },
    { name: 'billing_reason', type: 'text' },
    { name: 'number', type: 'text' },
    { name: 'hosted_invoice_url', type: 'text' },
    { name: 'attempt_count', type: 'int' },
    { name: 'next_payment_attempt', type: 'timestamptz' },
    { name: 'paid', type: 'boolean' },
    { name: 'paid_at', type: 'timestamptz' },
    { name: 'period_start', type: 'timestamptz' },
    { name: 'period_end', type: 'timestamptz' },
    // Set by invoice.payment_failed, cleared once paid, otherwise kept.
    { name: 'last_payment_error', type: 'text', mode: 'optional' },
    { name: 'metadata', type: 'jsonb' },
    { name: 'created_at', type: 'timestamptz' },
  ],
  inputs: [{ name: 'subscription_user_id', type: 'text' }],
  userId: 't.user_id',
};

export const invoicePaymentsTable: TableSpec = {
  table: 'invoice_payments',
  key: 'id',
  columns: [
    { name: 'invoice_id', type: 'text' },
    { name: 'status', type: 'text' },
    { name: 'currency', type: 'text' },
    { name: 'amount_paid', type: 'bigint' },
    { name: 'amount_requested', type: 'bigint' },
    { name: 'is_default', type: 'boolean' },
    { name: 'payment_intent_id', type: 'text' },
    { name: 'paid_at', type: 'timestamptz' },
    { name: 'created_at', type: 'timestamptz' },
  ],
  userId: '(select iu.user_id from invoices as iu where iu.id = t.invoice_id)',
};

export const productsTable: TableSpec = {
  table: 'products',
  key: 'id',
  columns: [
    { name: 'name', type: 'text' },
    { name: 'description', type: 'text' },
    { name: 'active', type: 'boolean' },
    { name: 'deleted', type: 'boolean' },
    { name: 'metadata', type: 'jsonb' },
    { name: 'created_at', type: 'timestamptz' },
  ],
  userId: 'null::text',
};

export const pricesTable: TableSpec = {
  table: 'prices',
  key: 'id',
  columns: [
    { name: 'product_id', type: 'text' },
    { name: 'active', type: 'boolean' },
    { name: 'deleted', type: 'boolean' },
    { name: 'currency', type: 'text' },
    { name: 'unit_amount', type: 'bigint' },
    { name: 'type', type: 'text' },
    { name: 'recurring_interval', type: 'text' },
    { name: 'recurring_interval_count', type: 'int' },
    // A legacy plan carries no lookup key: its write keeps the one a price event stored.
    { name: 'lookup_key', type: 'text', mode: 'optional' },
    { name: 'nickname', type: 'text' },
    { name: 'metadata', type: 'jsonb' },
    { name: 'created_at', type: 'timestamptz' },
  ],
  userId: 'null::text',
};

export const schedulesTable: TableSpec = {
  table: 'subscription_schedules',
  key: 'id',
  columns: [
    { name: 'customer_id', type: 'text' },
    { name: 'subscription_id', type: 'text' },
    { name: 'status', type: 'text' },
    { name: 'phases', type: 'jsonb' },
    { name: 'end_behavior', type: 'text' },
    { name: 'metadata', type: 'jsonb' },
    { name: 'created_at', type: 'timestamptz' },
  ],
  userId: customerUser('t.customer_id'),
};

export const entitlementsTable: TableSpec = {
  table: 'entitlements',
  key: 'customer_id',
  columns: [
    { name: 'user_id', type: 'text', mode: 'keep', value: customerUser('r.customer_id') },
    { name: 'features', type: 'jsonb' },
  ],
  userId: 't.user_id',
};

/** The statements, built once. */
export const STATEMENTS = {
  customer: guardedUpsert(customersTable),
  subscription: guardedUpsert(subscriptionsTable),
  invoice: guardedUpsert(invoicesTable),
  invoice_payment: guardedUpsert(invoicePaymentsTable),
  product: guardedUpsert(productsTable),
  price: guardedUpsert(pricesTable),
  subscription_schedule: guardedUpsert(schedulesTable),
  entitlements: guardedUpsert(entitlementsTable),
} as const;

/**
 * Subscription items as of the subscription writes that just won: upsert the listed items,
 * delete the others of those subscriptions (unless Stripe truncated the list). Items follow
 * their subscription's guard, so none of their own. The delete is a data-modifying CTE; it
 * and the upsert touch disjoint rows, so neither sees or undoes the other.
 */
export const ITEMS_STATEMENT = `with r as materialized (
  select * from jsonb_to_recordset($1::text::jsonb) as x(id text, subscription_id text, price_id text,
    quantity int, current_period_start timestamptz, current_period_end timestamptz, metadata jsonb,
    created_at timestamptz, account text, livemode boolean, last_event_id text,
    last_event_created timestamptz, last_event_rank int)
), s as (
  select * from jsonb_to_recordset($2::text::jsonb) as y(id text, complete boolean)
), removed as (
  delete from subscription_items as si using s
  where si.subscription_id = s.id and s.complete
    and not exists (select 1 from r where r.id = si.id)
  returning 1
), up as (
  insert into subscription_items as t (id, subscription_id, price_id, quantity, current_period_start,
    current_period_end, metadata, created_at, account, livemode, last_event_id, last_event_created,
    last_event_rank)
  select id, subscription_id, price_id, quantity, current_period_start, current_period_end, metadata,
    created_at, account, livemode, last_event_id, last_event_created, last_event_rank
  from r order by id
  on conflict (id) do update set synced_at = now(), subscription_id = excluded.subscription_id,
    price_id = excluded.price_id, quantity = excluded.quantity,
    current_period_start = excluded.current_period_start,
    current_period_end = excluded.current_period_end, metadata = excluded.metadata,
    created_at = excluded.created_at, account = excluded.account, livemode = excluded.livemode,
    last_event_id = excluded.last_event_id, last_event_created = excluded.last_event_created,
    last_event_rank = excluded.last_event_rank
  returning 1
)
select (select count(*) from up)::int as upserted, (select count(*) from removed)::int as removed`;

/**
 * Links customers to app users (checkout, or `metadata.user_id` on a subscription) and
 * back-fills the customers' rows that have no user yet, in one statement. A customer not
 * synced yet gets a placeholder stamped at the epoch (its real event overwrites every field
 * but keeps the link). A customer already linked is left alone (the first link wins); the
 * last part reports its current user so the caller can tell "already" from "conflict".
 */
export const LINK_STATEMENT = `with l as materialized (
  select distinct on (customer_id) * from jsonb_to_recordset($1::text::jsonb)
    as x(customer_id text, user_id text, account text, livemode boolean, event_id text)
  order by customer_id
), up as (
  insert into customers as c (id, user_id, account, livemode, last_event_id, last_event_created, last_event_rank)
  select customer_id, user_id, account, coalesce(livemode, false), 'link:' || event_id, 'epoch'::timestamptz, 0 from l
  on conflict (id) do update set user_id = excluded.user_id where c.user_id is null
  returning c.id, c.user_id
), s as (
  update subscriptions as x set user_id = up.user_id from up
  where x.customer_id = up.id and x.user_id is null returning 1
), i as (
  update invoices as x set user_id = up.user_id from up
  where x.customer_id = up.id and x.user_id is null returning 1
), e as (
  update entitlements as x set user_id = up.user_id from up
  where x.customer_id = up.id and x.user_id is null returning 1
), counted as (select (select count(*) from s) + (select count(*) from i) + (select count(*) from e) as n)
select up.id as customer_id, up.user_id, true as linked from up, counted
union all
select l.customer_id, c.user_id, false from l join customers as c on c.id = l.customer_id
where not exists (select 1 from up where up.id = l.customer_id)`;

/**
 * A changed customer link copied onto the customer's subscriptions, invoices and entitlement
 * summary that have no user yet (they arrived before the link). Only run when a link
 * changed: every writer of those rows takes the customer's current user, so while a link
 * stays the same no row of the customer can be left without it.
 */
export const BACKFILL_STATEMENT = `with l as (
  select * from unnest($1::text[], $2::text[]) as l(customer_id, user_id)
), s as (
  update subscriptions as x set user_id = l.user_id from l
  where x.customer_id = l.customer_id and x.user_id is null returning 1
), i as (
  update invoices as x set user_id = l.user_id from l
  where x.customer_id = l.customer_id and x.user_id is null returning 1
), e as (
  update entitlements as x set user_id = l.user_id from l
  where x.customer_id = l.customer_id and x.user_id is null returning 1
)
select ((select count(*) from s) + (select count(*) from i) + (select count(*) from e))::int as changed`;

/**
 * The processed events about some objects in one second: the candidates of a same-second
 * tie. Served by `webhook_events_object_created_idx`.
 */
export const TIE_CANDIDATES_STATEMENT = `select w.event_id, w.type, w.object_id, w.payload
from webhook_events as w
join unnest($1::text[], $2::text[]::timestamptz[]) as k(object_id, created)
  on w.object_id = k.object_id and w.created = k.created
where w.status = 'processed'`;

/**
 * Advisory locks of a set of keys, in one fixed (sorted) order so two batches about the same
 * customers queue instead of deadlocking. MATERIALIZED keeps the planner from reordering.
 */
export const LOCK_KEYS_STATEMENT = `with k as materialized (
  select distinct key from unnest($1::text[]) as key order by key
)
select count(pg_advisory_xact_lock(hashtextextended(key, 0)))::int as locked from k`;
