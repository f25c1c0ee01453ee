import fs from 'node:fs';
import path from 'node:path';
import { MIGRATIONS_FOLDER } from '@billing/db/migrate';
import { useTestServices } from '@billing/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollup } from '../src/rollup.js';
import { usedInPeriod } from '../src/snapshot.js';
import { directTotals, sortedEntries, splitTotals, tailCount, waitForHorizon } from './helpers.js';

// Migration 0001 replaces rollup_id with the txid watermark on a ledger that already has
// rolled-up rows and a live tail: each row must stay on its side of the split.
const services = await useTestServices('usage-migration');
const name = `${new URL(services.databaseUrl).pathname.slice(1)}_0000`;
const adminUrl = new URL(services.databaseUrl);
adminUrl.pathname = '/postgres';
const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
const targetUrl = new URL(services.databaseUrl);
targetUrl.pathname = `/${name}`;
let sql: postgres.Sql;

const statementsOf = (file: string) =>
  fs
    .readFileSync(path.join(MIGRATIONS_FOLDER, file), 'utf8')
    .split('--> statement-breakpoint')
    .map((statement) => statement.trim())
    .filter(Boolean);

beforeAll(async () => {
  await admin.unsafe(`drop database if exists "${name}"`);
  await admin.unsafe(`create database "${name}"`);
  sql = postgres(targetUrl.toString(), { max: 2, onnotice: () => {} });
  for (const statement of statementsOf('0000_init.sql')) await sql.unsafe(statement);
});
afterAll(async () => {
  await sql?.end();
  await admin.unsafe(`drop database if exists "${name}"`);
  await admin.end();
});

describe('migration 0001 (txid watermark)', () => {
  it('keeps rolled-up rows in their totals and the live tail in the tail; the first run folds exactly the old tail', async () => {
    const period = '2026-03-01T00:00:00Z';
    // As the old roll-up left it: rows 1-60 claimed (rollup_id 1) and in the aggregates, 61-100 tail.
    await sql`
      insert into usage_ledger (user_id, metric, quantity, occurred_at, period_start, idempotency_key, rollup_id)
      select 'user_' || (g % 4), 'compute_minutes', g, ${period}::timestamptz, ${period}::timestamptz,
             'k' || g, case when g <= 60 then 1 end
      from generate_series(1, 100) g`;
    await sql`
      insert into usage_aggregates (user_id, metric, period_start, quantity, record_count, last_rollup_id)
      select user_id, metric, period_start, sum(quantity), count(*), 1 from usage_ledger
      where rollup_id = 1 group by 1, 2, 3`;
    await sql`insert into usage_rollups (status, ledger_bound) values ('completed', 60)`;

    await sql.begin(async (tx) => {
      for (const statement of statementsOf('0001_usage_txid_watermark.sql'))
        await tx.unsafe(statement);
    });

    const truth = sortedEntries(await directTotals(sql));
    expect(sortedEntries(await splitTotals(sql))).toEqual(truth);
    expect(await tailCount(sql)).toBe(40);
    // user_1: rows 1, 5, …, 97; "used so far" = all of them
    expect(await usedInPeriod(sql, 'user_1', 'compute_minutes', new Date(period))).toBe(
      truth.find(([k]) => k.startsWith('user_1|'))![1],
    );

    await waitForHorizon(sql);
    const run = await rollup(sql, { chunkSize: 10 });
    expect(run).toMatchObject({ status: 'completed', rowsClaimed: 40, fromTxid: '0' });
    expect(await tailCount(sql)).toBe(0);
    const [folded] = await sql`
      select sum(quantity)::int as total, sum(record_count)::int as rows from usage_aggregates`;
    expect(folded).toEqual({ total: 5050, rows: 100 });
  });
});
