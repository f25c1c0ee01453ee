import { createDb, customers, runMigrations } from '@billing/db';
import { useTestServices, withDatabase } from '@billing/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.js';
import { dbReport, STATEMENTS_NOT_INSTALLED, STATEMENTS_NOT_LOADED } from '../src/db-report.js';
import { type OwnPostgres, startOwnPostgres } from './own-postgres.js';

const services = await useTestServices('ops-db');

const io = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) } };
};

describe('database report on the shared Postgres', () => {
  const handle = createDb({ url: services.databaseUrl, max: 2 });
  afterAll(() => handle.close());

  it('says pg_stat_statements is missing, and still reports indexes and table sizes', async () => {
    const report = await dbReport(handle.sql);
    expect(report.statements).toEqual({
      available: false,
      message: STATEMENTS_NOT_INSTALLED,
      slowest: [],
    });
    expect(report.tableSizes.map((t) => t.table)).toEqual(
      expect.arrayContaining(['customers', 'webhook_events']),
    );
    expect(report.indexUsage.map((i) => i.index)).toContain('webhook_events_event_id_key');
    // Nothing has been scanned in a fresh database: non-unique indexes are unused, unique ones never listed.
    expect(report.unusedIndexes.map((i) => i.index)).toContain('customers_user_id_idx');
    expect(report.unusedIndexes.map((i) => i.index)).not.toContain('webhook_events_event_id_key');

    const cli = io();
    expect(
      await runCli(
        'db-report',
        [],
        { DATABASE_URL: services.databaseUrl, NODE_ENV: 'test' },
        cli.io,
      ),
    ).toBe(0);
    expect(cli.out.join('\n')).toContain(`unavailable: ${STATEMENTS_NOT_INSTALLED}`);
  });

  it('says how to load pg_stat_statements when it is installed but not preloaded', async () => {
    await handle.sql`create extension if not exists pg_stat_statements`;
    const [setting] = await handle.sql<
      { shared_preload_libraries: string }[]
    >`show shared_preload_libraries`;
    const report = await dbReport(handle.sql);
    if (setting?.shared_preload_libraries.includes('pg_stat_statements')) {
      // A Postgres that does preload it (e.g. the compose one) reads the statements.
      expect(report.statements.available).toBe(true);
    } else {
      expect(report.statements).toEqual({
        available: false,
        message: STATEMENTS_NOT_LOADED,
        slowest: [],
      });
    }
  });
});

describe('database report on a Postgres with pg_stat_statements preloaded', () => {
  let pg: OwnPostgres;
  let url: string;

  beforeAll(async () => {
    pg = await startOwnPostgres({ shared_preload_libraries: 'pg_stat_statements' });
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    await admin`create database billing`;
    await admin.end();
    url = withDatabase(pg.url, 'billing');
    await runMigrations(url);
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
  });

  it('names the seeded slow query among the slowest statements on billing tables', async () => {
    const handle = createDb({ url, max: 2 });
    try {
      await handle.sql`create extension pg_stat_statements`;
      await handle.db.insert(customers).values(
        Array.from({ length: 50 }, (_, i) => ({
          id: `cus_seed_${i}`,
          email: `seed${i}@example.com`,
          lastEventId: 'seed',
          lastEventCreated: new Date(),
        })),
      );
      // Fast statements on billing tables, and one slow one.
      for (let i = 0; i < 5; i++)
        await handle.sql`select count(*) from customers where email = ${`seed${i}@example.com`}`;
      await handle.sql`select pg_sleep(0.25), count(*) as slow_seeded from customers where email like '%example%'`;

      const report = await dbReport(handle.sql);
      expect(report.statements.available).toBe(true);
      const [slowest] = report.statements.slowest;
      expect(slowest?.query).toMatch(/pg_sleep.*slow_seeded.*from customers/s);
      expect(slowest?.tables).toEqual(['customers']);
      expect(slowest?.meanMs).toBeGreaterThanOrEqual(250);
      // Statements touching no billing table are left out.
      expect(report.statements.slowest.every((s) => s.tables.length > 0)).toBe(true);

      const cli = io();
      expect(
        await runCli('db-report', ['--json'], { DATABASE_URL: url, NODE_ENV: 'test' }, cli.io),
      ).toBe(0);
      const fromCli = JSON.parse(cli.out.join('\n'));
      expect(fromCli.statements.slowest[0].query).toContain('slow_seeded');
    } finally {
      await handle.close();
    }
  });
});
