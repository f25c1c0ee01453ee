import { LIVE_SUBSCRIPTION_STATUSES_SQL } from '@billing/db/constants';
import { useTestServices } from '@billing/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The hot queries must use the indexes declared for them. The tables are seeded with
// enough rows (and ANALYZEd) that the planner would rather scan an index than the heap.
const services = await useTestServices('explain');
const sql = postgres(services.databaseUrl, { max: 2, onnotice: () => {} });
afterAll(() => sql.end());

beforeAll(async () => {
  await sql`
    insert into subscriptions (id, customer_id, user_id, status, created_at, last_event_id, last_event_created)
    select 'sub_' || g, 'cus_' || (g % 5000), 'user_' || (g % 5000),
           (array['active','trialing','past_due','canceled','canceled','incomplete_expired'])[1 + g % 6],
           now() - (g || ' minutes')::interval, 'evt_' || g, now()
    from generate_series(1, 30000) g`;
  // usage ledger rows written by 12 transactions (txids in the ledger's own column)
  for (let start = 1; start <= 60000; start += 5000) {
    await sql`
      insert into usage_ledger (user_id, metric, quantity, occurred_at, period_start, idempotency_key)
      select 'user_' || (g % 200), (array['compute_minutes','api_requests'])[1 + g % 2], 1 + g % 7,
             now() - (g || ' minutes')::interval, date_trunc('month', now()) - ((g % 3) || ' months')::interval,
             'key_' || g
      from generate_series(${start}::int, ${start + 4999}::int) g`;
  }
  await sql`
    insert into usage_aggregates (user_id, metric, period_start, quantity, record_count, through_txid, last_rollup_id)
    select 'user_' || u, m, date_trunc('month', now()) - (p || ' months')::interval, 100, 10, '3'::xid8, 1
    from generate_series(1, 2000) u, unnest(array['compute_minutes','api_requests']) m, generate_series(0, 5) p`;
  await sql`
    insert into webhook_events (event_id, type, created, payload, status, processed_at)
    select 'evt_' || g, 'customer.subscription.updated', now(), '{}'::jsonb,
           (array['processed','processed','processed','failed','ignored']::webhook_event_status[])[1 + g % 5],
           now() - (g || ' seconds')::interval
    from generate_series(1, 30000) g`;
  await sql`
    insert into api_metrics (bucket_start, method, endpoint, requests, errors, total_ms, min_ms, max_ms, histogram)
    select date_trunc('minute', now()) - (g || ' minutes')::interval, 'GET', e, 10, 0, 100, 1, 30, '[]'::jsonb
    from generate_series(1, 3000) g, unnest(array['/api/billing/usage','/api/billing/subscription','/api/billing/plans','/api/billing/overview']) e`;
  await sql`analyze`;
  // the ledger is append-only: autovacuum keeps its visibility map current, as here
  await sql`vacuum analyze usage_ledger`;
});

async function planOf(query: string, params: unknown[] = []): Promise<string> {
  const rows = await sql.unsafe(`explain (format json) ${query}`, params as never[]);
  return JSON.stringify(rows[0]);
}

describe('EXPLAIN of the hot queries', () => {
  it('live subscription of a user uses the partial active-by-user index', async () => {
    const plan = await planOf(
      `select * from subscriptions where user_id = $1 and status in (${LIVE_SUBSCRIPTION_STATUSES_SQL})
       order by created_at desc nulls last limit 1`,
      ['user_42'],
    );
    expect(plan).toContain('subscriptions_active_by_user_idx');
  });

  it('subscription by Stripe id uses the primary key', async () => {
    expect(await planOf('select * from subscriptions where id = $1', ['sub_77'])).toContain(
      'subscriptions_pkey',
    );
  });

  it("live usage tail of a period (txid at or above the aggregate's through_txid) is an index-only range scan of the group/txid index", async () => {
    const [mid] = await sql<{ txid: string }[]>`
      select percentile_disc(0.75) within group (order by txid::text::numeric)::text as txid from usage_ledger`;
    const plan = await planOf(
      `select coalesce(sum(quantity), 0) from usage_ledger
       where user_id = $1 and metric = $2 and period_start = date_trunc('month', now()) and txid >= $3::xid8`,
      ['user_7', 'compute_minutes', mid!.txid],
    );
    expect(plan).toContain('"Node Type":"Index Only Scan"');
    expect(plan).toContain('"Index Name":"usage_ledger_group_txid_idx"');
    expect(plan).toMatch(/"Index Cond":"[^"]*txid >= /);
  });

  it('roll-up: ledger rows of a txid range use the txid index', async () => {
    const [bounds] = await sql<{ lo: string; hi: string }[]>`
      select percentile_disc(0.9) within group (order by txid::text::numeric)::text as lo,
             (max(txid)::text::numeric + 1)::text as hi from usage_ledger`;
    const plan = await planOf(
      `select user_id, metric, period_start, sum(quantity), count(*) from usage_ledger
       where txid >= $1::xid8 and txid < $2::xid8 group by 1, 2, 3`,
      [bounds!.lo, bounds!.hi],
    );
    expect(plan).toContain('usage_ledger_txid_idx');
  });

  it('usage of a user over time uses the partial user/time index', async () => {
    const plan = await planOf(
      `select occurred_at, quantity from usage_ledger
       where user_id = $1 and occurred_at >= now() - interval '1 day' and quantity > 0`,
      ['user_7'],
    );
    expect(plan).toContain('usage_ledger_user_time_idx');
  });

  it('rolled-up usage by user, metric and period uses the aggregates key', async () => {
    const plan = await planOf(
      `select quantity from usage_aggregates where user_id = $1 and metric = $2 and period_start = $3`,
      ['user_7', 'compute_minutes', new Date('2026-11-01T00:00:00Z')],
    );
    expect(plan).toContain('usage_aggregates_pkey');
  });

  it('webhook event by id uses the unique event id index', async () => {
    expect(await planOf('select * from webhook_events where event_id = $1', ['evt_9'])).toContain(
      'webhook_events_event_id_key',
    );
  });

  it('recent failed webhook events use the status/processed-time index', async () => {
    const plan = await planOf(
      `select event_id from webhook_events where status = 'failed' order by processed_at desc nulls last limit 50`,
    );
    expect(plan).toContain('webhook_events_status_processed_at_idx');
  });

  it('api metrics of an endpoint over a window use the endpoint/bucket index', async () => {
    const plan = await planOf(
      `select * from api_metrics where endpoint = $1 and bucket_start >= now() - interval '1 hour'`,
      ['/api/billing/usage'],
    );
    expect(plan).toContain('api_metrics_endpoint_bucket_idx');
  });
});
