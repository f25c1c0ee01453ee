import { createDb } from '@billing/db';
import { type FakeStripe, startFakeStripe } from '@billing/stripe-fake';
import { useTestServices } from '@billing/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestUsage } from '../src/ingest.js';
import { METER_EVENT_MAX_AGE_S, reportUsageToStripe } from '../src/meters.js';
import { rollup } from '../src/rollup.js';
import { METRICS, record, testConfig, waitForHorizon } from './helpers.js';

const services = await useTestServices('usage-meters');
const { sql, close } = createDb({ url: services.databaseUrl, max: 4 });
let fake: FakeStripe;
beforeAll(async () => {
  fake = await startFakeStripe();
  const seeded: [string, string][] = [
    ['m_user', 'cus_m_user'],
    ['m_other', 'cus_m_other'],
  ];
  for (const [userId, customerId] of seeded) {
    await sql`
      insert into customers (id, user_id, last_event_id, last_event_created)
      values (${customerId}, ${userId}, 'evt_seed', now())`;
  }
});
afterAll(async () => {
  await fake.close();
  await close();
});

const now = new Date();
const meters = { compute_minutes: 'compute_minutes' };
/** A roll-up run once every row written so far is below the transaction horizon. */
const rollupAll = async (chunkSize: number) => {
  await waitForHorizon(sql);
  await rollup(sql, { chunkSize });
};
const ingest = (records: unknown[]) =>
  ingestUsage(sql, records, { atomic: true, metrics: METRICS, now, config: testConfig() });
/** What Stripe would bill: the sum of accepted meter event values per customer. */
const billed = (customerId: string) =>
  [...fake.state.meterEvents.values()]
    .filter((e) => e.payload.stripe_customer_id === customerId)
    .reduce((sum, e) => sum + Number(e.payload.value), 0);

describe('Stripe Billing Meter reporting', () => {
  it('reports each rolled-up total once, then only what was added, never the live tail', async () => {
    await ingest([
      record('m_user', 'a', 5, now),
      record('m_user', 'b', 7, now),
      record('m_other', 'a', 2, now),
    ]);
    await ingest([
      record('no_customer', 'a', 9, now),
      record('m_user', 'api', 4, now, 'api_requests'),
    ]);
    await rollupAll(2);
    await ingest([record('m_user', 'tail', 100, now)]); // not rolled up yet

    expect(await reportUsageToStripe(sql, fake.stripe, { meters })).toEqual({
      sent: 2,
      failed: 0,
      pastWindow: 0,
    });
    expect(billed('cus_m_user')).toBe(12);
    expect(billed('cus_m_other')).toBe(2);
    expect(fake.state.meterEvents.size).toBe(2); // api_requests has no meter; no_customer has no customer

    expect(await reportUsageToStripe(sql, fake.stripe, { meters })).toEqual({
      sent: 0,
      failed: 0,
      pastWindow: 0,
    });

    await rollupAll(50);
    expect(await reportUsageToStripe(sql, fake.stripe, { meters })).toEqual({
      sent: 1,
      failed: 0,
      pastWindow: 0,
    });
    expect(billed('cus_m_user')).toBe(112);
  });

  it('a crash between the meter event and the bookkeeping resends the same identifier, which Stripe dedupes', async () => {
    await ingest([record('m_other', 'b', 3, now)]);
    await rollupAll(50);
    // the first attempt fails and the step stays pending
    fake.failNext(1, 500, { path: '/v1/billing/meter_events', shouldRetry: false });
    expect(await reportUsageToStripe(sql, fake.stripe, { meters })).toEqual({
      sent: 0,
      failed: 1,
      pastWindow: 0,
    });
    const [pending] =
      await sql`select pending_quantity::int as p from usage_meter_reports where user_id = 'm_other'`;
    expect(pending!.p).toBe(5);
    // simulate the accepted-but-unconfirmed case: the event reaches Stripe, bookkeeping does not happen
    const [row] =
      await sql`select pending_identifier from usage_meter_reports where user_id = 'm_other'`;
    await fake.stripe.billing.meterEvents.create({
      event_name: 'compute_minutes',
      payload: { stripe_customer_id: 'cus_m_other', value: '3' },
      identifier: row!.pending_identifier as string,
    });
    const duplicatesBefore = fake.state.meterEventDuplicates;
    expect(await reportUsageToStripe(sql, fake.stripe, { meters })).toEqual({
      sent: 1,
      failed: 0,
      pastWindow: 0,
    });
    expect(fake.state.meterEventDuplicates).toBe(duplicatesBefore + 1);
    expect(billed('cus_m_other')).toBe(5);
  });

  it('a correction after reporting is not sent as a negative event; later usage first makes up the difference', async () => {
    await ingest([record('m_other', 'fix', -3, now, 'compute_minutes', { correctsKey: 'b' })]);
    await rollupAll(50);
    expect(await reportUsageToStripe(sql, fake.stripe, { meters })).toEqual({
      sent: 0,
      failed: 0,
      pastWindow: 0,
    });
    await ingest([record('m_other', 'c', 4, now)]); // total 2 + 4 = 6, reported 5
    await rollupAll(50);
    expect(await reportUsageToStripe(sql, fake.stripe, { meters })).toEqual({
      sent: 1,
      failed: 0,
      pastWindow: 0,
    });
    expect(billed('cus_m_other')).toBe(6);
  });

  it('a meter event carries the time of the usage it reports, not the time it is sent', async () => {
    await sql`
      insert into customers (id, user_id, last_event_id, last_event_created)
      values ('cus_m_time', 'm_time', 'evt_seed', now())`;
    // Whole seconds, a little in the past: Stripe's timestamp is unix seconds.
    const at = new Date(Math.floor((Date.now() - 120_000) / 1000) * 1000);
    await ingestUsage(sql, [record('m_time', 'a', 3, at)], {
      atomic: true,
      metrics: METRICS,
      now: at,
      config: testConfig(),
    });
    await rollupAll(50);
    const result = await reportUsageToStripe(sql, fake.stripe, { meters, userId: 'm_time' });
    expect(result).toEqual({ sent: 1, failed: 0, pastWindow: 0 });
    const events = [...fake.state.meterEvents.values()].filter(
      (e) => e.payload.stripe_customer_id === 'cus_m_time',
    );
    expect(events.map((e) => [e.timestamp, e.payload.value])).toEqual([[at.getTime() / 1000, '3']]);
  });

  it('usage older than Stripe accepts is sent at the oldest accepted time and counted, not refused or dropped', async () => {
    await sql`
      insert into customers (id, user_id, last_event_id, last_event_created)
      values ('cus_m_old', 'm_old', 'evt_seed', now())`;
    const longAgo = new Date(Date.now() - 50 * 86_400_000);
    await ingestUsage(sql, [record('m_old', 'a', 4, longAgo)], {
      atomic: true,
      metrics: METRICS,
      now: longAgo,
      config: testConfig(),
    });
    await rollupAll(50);
    const reportedAt = new Date();
    const result = await reportUsageToStripe(sql, fake.stripe, {
      meters,
      userId: 'm_old',
      now: reportedAt,
    });
    expect(result).toEqual({ sent: 1, failed: 0, pastWindow: 1 });
    const [event] = [...fake.state.meterEvents.values()].filter(
      (e) => e.payload.stripe_customer_id === 'cus_m_old',
    );
    const oldestAccepted = Math.floor(reportedAt.getTime() / 1000) - METER_EVENT_MAX_AGE_S;
    expect(event?.payload.value).toBe('4');
    expect(event!.timestamp).toBeGreaterThan(oldestAccepted);
    expect(event!.timestamp).toBeLessThan(oldestAccepted + 2 * 3600);
  });
});
