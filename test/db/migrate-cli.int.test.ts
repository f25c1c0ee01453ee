import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, useTestServices, withDatabase } from '@billing/testing';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';

// The db package's own `migrate` entry point, run the way `npm start` and the Dockerfiles run it.
// These tests live outside packages/db because the test harness migrates with @billing/db:
// a db → testing dependency back would make a package cycle.
const pkg = path.join(REPO_ROOT, 'packages/db');
const services = await useTestServices('migrate');
const tsx = path.join(REPO_ROOT, 'node_modules/.bin/tsx');

const runCli = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(tsx, ['src/migrate-cli.ts', ...args], {
    cwd: pkg,
    env: { ...process.env, ...env, NODE_ENV: 'test' },
    encoding: 'utf8',
  });

describe('migrate CLI', () => {
  // Two CLI processes, each starting tsx and migrating a fresh database: generous, since a
  // loaded machine can take well over the default 30 s for both.
  it('creates the database, migrates and seeds the plan list; a re-run is a no-op', {
    timeout: 120_000,
  }, async () => {
    const name = `billing_cli_${Date.now().toString(36)}`;
    const url = withDatabase(services.databaseUrl, name);
    const first = runCli({ DATABASE_URL: url }, '--create', '--seed');
    expect(first.status, first.stderr).toBe(0);
    expect(runCli({ DATABASE_URL: url }, '--create', '--seed').status).toBe(0);
    const sql = postgres(url, { max: 1 });
    try {
      const plans = await sql`select id, is_free from plans order by sort_order`;
      expect(plans.map((row) => row.id)).toEqual(['free', 'pro', 'business']);
      expect(plans[0]?.is_free).toBe(true);
    } finally {
      await sql.end();
      const admin = postgres(withDatabase(services.databaseUrl, 'postgres'), { max: 1 });
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.end();
    }
  });

  it('exits non-zero when the database cannot be reached', () => {
    const result = runCli({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/billing' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/migration failed/);
  });

  it('stops with a message naming PLANS_FILE when the plan list is invalid', () => {
    const result = runCli(
      { DATABASE_URL: services.databaseUrl, PLANS_FILE: '/nonexistent/plans.json' },
      '--seed',
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/PLANS_FILE: cannot read/);
  });

  it('prints its usage for --help and applies nothing (tried with --create on a new name)', async () => {
    const name = `billing_help_${Date.now().toString(36)}`;
    const url = withDatabase(services.databaseUrl, name);
    const help = runCli({ DATABASE_URL: url }, '--help', '--create', '--seed');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: migrate \[--create\] \[--seed\]/);
    const typo = runCli({ DATABASE_URL: url }, '--craete');
    expect(typo.status).toBe(2);
    expect(typo.stderr).toMatch(/craete/);
    const admin = postgres(withDatabase(services.databaseUrl, 'postgres'), { max: 1 });
    try {
      const rows = await admin`select 1 from pg_database where datname = ${name}`;
      expect(rows).toHaveLength(0);
    } finally {
      await admin.end();
    }
  });
});
