import { useTestServices } from '@billing/testing';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';

const services = await useTestServices('db');
const sql = postgres(services.databaseUrl, { max: 2, onnotice: () => {} });
afterAll(() => sql.end());

describe('migrations', () => {
  it('create every table the apps share', async () => {
    const rows = await sql<{ table_name: string }[]>`
      select table_name from information_schema.tables where table_schema = 'public' order by 1`;
    expect(rows.map((row) => row.table_name)).toEqual(
      expect.arrayContaining([
        'customers',
        'products',
        'prices',
        'plans',
        'subscriptions',
        'subscription_items',
        'invoices',
        'entitlements',
        'webhook_events',
        'usage_ledger',
        'usage_aggregates',
        'api_keys',
        'api_metrics',
        'performance_issues',
      ]),
    );
  });

  it('reject a second webhook_events row for one event id', async () => {
    const insert = () => sql`
      insert into webhook_events (event_id, type, created, payload)
      values ('evt_dup', 'customer.created', now(), '{}'::jsonb)`;
    await insert();
    await expect(insert()).rejects.toThrow(/webhook_events_event_id_key/);
  });
});
