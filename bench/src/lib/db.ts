import { DEFAULT_PLANS_FILE, loadPlanList } from '@billing/config';
import { createDb, ensureDatabase, runMigrations, seedPlans } from '@billing/db';
import postgres from 'postgres';

export const withDatabase = (url: string, name: string): string => {
  const next = new URL(url);
  next.pathname = `/${name}`;
  return next.toString();
};

/**
 * A fresh database `name` on the server of `baseUrl`: dropped if it exists, created, migrated
 * with the committed migrations and seeded with the plan list. Benchmarks start from
 * this every run, so a schema change elsewhere never leaves them on an old one.
 */
export async function freshDatabase(baseUrl: string, name: string): Promise<string> {
  const url = withDatabase(baseUrl, name);
  const admin = postgres(withDatabase(baseUrl, 'postgres'), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  await ensureDatabase(url);
  await runMigrations(url);
  const db = createDb({ url, max: 1 });
  try {
    await seedPlans(db.db, loadPlanList(DEFAULT_PLANS_FILE));
  } finally {
    await db.close();
  }
  return url;
}

export async function dropDatabase(baseUrl: string, name: string): Promise<void> {
  const admin = postgres(withDatabase(baseUrl, 'postgres'), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Tables the webhook worker writes; emptied between rounds so each starts alike. */
export const SYNC_TABLES = [
  'webhook_events',
  'customers',
  'subscriptions',
  'subscription_items',
  'subscription_schedules',
  'invoices',
  'invoice_payments',
  'entitlements',
  'prices',
  'products',
] as const;

export async function truncateSyncTables(sql: postgres.Sql): Promise<void> {
  const existing = await sql<{ name: string }[]>`
    select table_name as name from information_schema.tables
    where table_schema = 'public' and table_name in ${sql([...SYNC_TABLES])}`;
  if (existing.length === 0) return;
  await sql.unsafe(`truncate ${existing.map((t) => `"${t.name}"`).join(', ')}`);
}
