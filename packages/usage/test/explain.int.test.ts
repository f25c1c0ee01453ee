import { useTestServices } from '@billing/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollup } from '../src/rollup.js';
import { usedInPeriod } from '../src/snapshot.js';

// The plans of the statements this package really sends (captured through postgres.js'
// `debug` hook), on a ledger that is mostly rolled up, as it is in production.
const services = await useTestServices('usage-explain');
const captured: { query: string; params: unknown[] }[] = [];
const sql = postgres(services.databaseUrl, {
  max: 2,
  onnotice: () => {},
  debug: (_connection, query, params) => captured.push({ query, params: params as unknown[] }),
});
afterAll(() => sql.end());

const periodStart = new Date('2026-03-01T00:00:00Z');

beforeAll(async () => {
  await sql`
    insert into usage_ledger (user_id, metric, quantity, occurred_at, period_start, idempotency_key, rollup_id)
    select 'user_' || (g % 2000), (array['compute_minutes','api_requests'])[1 + g % 2], 1 + g % 7,
           ${periodStart.toISOString()}::timestamptz, ${periodStart.toISOString()}::timestamptz - ((g % 3) || ' months')::interval,
           'key_' || g, case when g % 20 = 0 then null else 1 end
    from generate_series(1, 100000) g`;
  await sql`
    insert into usage_aggregates (user_id, metric, period_start, quantity, record_count, last_rollup_id)
    select user_id, metric, period_start, sum(quantity), count(*), 1 from usage_ledger where rollup_id = 1
    group by 1, 2, 3`;
  await sql`analyze`;
});

async function planOf(run: () => Promise<unknown>, marker: string): Promise<string> {
  captured.length = 0;
  await run();
  const statement = captured.find((c) => c.query.includes(marker));
  if (!statement) throw new Error(`no statement containing "${marker}" was sent`);
  const rows = await sql.unsafe(
    `explain (format json) ${statement.query}`,
    statement.params as never[],
  );
  return JSON.stringify(rows[0]);
}

describe('query plans', () => {
  it('"used so far" reads the tail with an index-only scan of usage_ledger_tail_idx and the aggregate by its key', async () => {
    const plan = await planOf(
      () => usedInPeriod(sql, 'user_7', 'compute_minutes', periodStart),
      'usage_aggregates',
    );
    expect(plan).toContain('usage_ledger_tail_idx');
    expect(plan).toContain('Index Only Scan');
    expect(plan).toContain('usage_aggregates_pkey');
  });

  it('a roll-up chunk finds its rows through usage_ledger_tail_idx, for all users and for one', async () => {
    // explain only: the statement is re-run under EXPLAIN, which does not execute it
    const all = await planOf(() => rollup(sql, { chunkSize: 1000 }), 'with picked');
    expect(all).toContain('usage_ledger_tail_idx');
    const one = await planOf(
      () => rollup(sql, { userId: 'user_9', chunkSize: 1000 }),
      'with picked',
    );
    expect(one).toContain('usage_ledger_tail_idx');
  });
});
