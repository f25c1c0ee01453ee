import { useTestServices } from '@billing/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollup } from '../src/rollup.js';
import { usedInPeriod } from '../src/snapshot.js';
import { waitForHorizon } from './helpers.js';

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

const seedRows = (from: number, to: number) => sql`
  insert into usage_ledger (user_id, metric, quantity, occurred_at, period_start, idempotency_key)
  select 'user_' || (g % 2000), (array['compute_minutes','api_requests'])[1 + g % 2], 1 + g % 7,
         ${periodStart.toISOString()}::timestamptz, ${periodStart.toISOString()}::timestamptz - ((g % 3) || ' months')::interval,
         'key_' || g
  from generate_series(${from}::int, ${to}::int) g`;

beforeAll(async () => {
  // 95,000 rows written by earlier transactions and rolled up by a completed run ...
  for (let start = 1; start <= 95_000; start += 5_000) await seedRows(start, start + 4_999);
  const [done] = await sql<{ through: string }[]>`
    select (max(txid)::text::numeric + 1)::text as through from usage_ledger`;
  await sql`
    insert into usage_aggregates (user_id, metric, period_start, quantity, record_count, through_txid, last_rollup_id)
    select user_id, metric, period_start, sum(quantity), count(*), ${done!.through}::xid8, 1
    from usage_ledger group by 1, 2, 3`;
  await sql`
    insert into usage_rollups (status, from_txid, horizon_txid, through_txid)
    values ('completed', '0', ${done!.through}::xid8, ${done!.through}::xid8)`;
  // ... and a tail of 5,000 newer rows. The ledger is append-only: autovacuum keeps its
  // visibility map current, as the VACUUM here does.
  await seedRows(95_001, 100_000);
  await sql`vacuum analyze usage_ledger`;
  await sql`analyze`;
});

interface ScanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Alias?: string;
  Plans?: ScanNode[];
}

/** EXPLAIN of the first captured statement containing `marker`, as the plan tree's JSON. */
async function planOf(run: () => Promise<unknown>, marker: string): Promise<ScanNode> {
  captured.length = 0;
  await run();
  const statement = captured.find((c) => c.query.includes(marker));
  if (!statement) throw new Error(`no statement containing "${marker}" was sent`);
  const rows = await sql.unsafe(
    `explain (format json) ${statement.query}`,
    statement.params as never[],
  );
  return (rows[0]!['QUERY PLAN'] as { Plan: ScanNode }[])[0]!.Plan;
}

/** The scan node(s) reading the table under `alias` (subplans included). */
function scansOf(plan: ScanNode, alias: string): ScanNode[] {
  const found = plan.Alias === alias && plan['Relation Name'] ? [plan] : [];
  return found.concat(...(plan.Plans ?? []).map((child) => scansOf(child, alias)));
}

describe('query plans', () => {
  it('"used so far" reads the tail as an index-only range scan of usage_ledger_group_txid_idx and the aggregate by its key', async () => {
    const plan = await planOf(
      () => usedInPeriod(sql, 'user_7', 'compute_minutes', periodStart),
      'usage_aggregates',
    );
    expect(scansOf(plan, 'tail')).toEqual([
      expect.objectContaining({
        'Node Type': 'Index Only Scan',
        'Index Name': 'usage_ledger_group_txid_idx',
        // a range scan from the aggregate's through_txid, not a filter over the group's rows
        'Index Cond': expect.stringContaining('(txid >= COALESCE(a.through_txid'),
      }),
    ]);
    expect(scansOf(plan, 'a')).toEqual([
      expect.objectContaining({ 'Index Name': 'usage_aggregates_pkey' }),
    ]);
  });

  it('a roll-up finds its chunk bounds and reads its chunk rows through usage_ledger_txid_idx', async () => {
    // explain only: the statements are re-run under EXPLAIN, which does not execute them
    await waitForHorizon(sql);
    const bounds = await planOf(() => rollup(sql, { chunkSize: 1000 }), 'next_rows');
    expect(scansOf(bounds, 'next_rows')).toEqual([
      expect.objectContaining({ 'Index Name': 'usage_ledger_txid_idx' }),
    ]);
    await seedRows(100_001, 105_000);
    await waitForHorizon(sql);
    const chunk = await planOf(() => rollup(sql, { chunkSize: 1000 }), 'chunk_rows');
    const reads = scansOf(chunk, 'chunk_rows');
    expect(reads).toHaveLength(1);
    // an index scan, or a bitmap heap scan over the index
    expect(JSON.stringify(reads[0])).toContain('usage_ledger_txid_idx');
  });

  it('a one-user roll-up over a long tail reads that user through usage_ledger_group_txid_idx', async () => {
    for (let start = 105_001; start <= 125_000; start += 5_000)
      await seedRows(start, start + 4_999);
    await sql`analyze usage_ledger`;
    await waitForHorizon(sql);
    const chunk = await planOf(
      () => rollup(sql, { userId: 'user_9', chunkSize: 1000 }),
      'chunk_rows',
    );
    const reads = scansOf(chunk, 'chunk_rows');
    expect(reads).toHaveLength(1);
    expect(JSON.stringify(reads[0])).toContain('usage_ledger_group_txid_idx');
  });
});
