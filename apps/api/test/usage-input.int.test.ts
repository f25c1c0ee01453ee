import { useTestServices } from '@billing/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApi, type TestApi, uniqueUser } from './support.js';

/**
 * Usage records a client could send by mistake or on purpose: NUL and unpaired surrogates
 * (a NUL once made the whole batch a 500), ids the billing API would refuse, dates that do
 * not exist or predate every period. Each such record is rejected with its reason and the
 * rest of the batch is stored; in atomic mode nothing is.
 */
const services = await useTestServices('api-usage-input');
let t: TestApi;
beforeAll(async () => {
  t = await startTestApi(services);
});
afterAll(async () => {
  await t?.close();
});

interface UsageAnswer {
  accepted: number;
  duplicates: number;
  rejected: { index: number; error: string }[];
}

const ledgerCount = async (userIds: string[]) =>
  (
    await t.sql<{ n: number }[]>`
      select count(*)::int as n from usage_ledger where user_id = any(${userIds}::text[])`
  )[0]!.n;
const totalLedger = async () =>
  (await t.sql<{ n: number }[]>`select count(*)::int as n from usage_ledger`)[0]!.n;

const good = (userId: string, key: string) => ({
  userId,
  metric: 'api_requests',
  quantity: 1,
  occurredAt: new Date().toISOString(),
  idempotencyKey: key,
});

describe('POST /api/usage: bad records are rejected one by one', () => {
  it('one record with a NUL among 1,000: that record rejected with its reason, 999 stored', async () => {
    const user = uniqueUser('nul');
    const records = Array.from({ length: 1_000 }, (_, i) => good(user, `k-${i}`));
    records[500] = { ...records[500]!, userId: `${user}\u0000` };
    const response = await t.call('/api/usage', { method: 'POST', json: { records } });
    const { status, body } = await json<UsageAnswer>(response);
    expect(status).toBe(200);
    expect(body.accepted).toBe(999);
    expect(body.rejected).toEqual([{ index: 500, error: 'invalid_user_id' }]);
    expect(await ledgerCount([user])).toBe(999);
  });

  it('NUL or an unpaired surrogate in a key, a correction key or metadata: rejected with reasons', async () => {
    const user = uniqueUser('chars');
    const records = [
      good(user, 'fine-1'),
      good(user, 'bad\u0000key'),
      good(user, 'bad\ud800key'),
      { ...good(user, 'meta-nul'), metadata: { note: 'a\u0000b' } },
      { ...good(user, 'meta-key'), metadata: { 'k\u0000': 1 } },
      { ...good(user, 'meta-sur'), metadata: { nested: ['\udc00'] } },
      { ...good(user, 'corr'), quantity: -1, correctsKey: 'fine\u0000' },
      // A well-formed surrogate pair (an emoji) is fine.
      { ...good(user, 'emoji-\ud83d\ude00'), metadata: { note: '\ud83d\ude00' } },
    ];
    const { status, body } = await json<UsageAnswer>(
      await t.call('/api/usage', { method: 'POST', json: { records } }),
    );
    expect(status).toBe(200);
    expect(body.rejected).toEqual([
      { index: 1, error: 'invalid_idempotency_key' },
      { index: 2, error: 'invalid_idempotency_key' },
      { index: 3, error: 'invalid_metadata' },
      { index: 4, error: 'invalid_metadata' },
      { index: 5, error: 'invalid_metadata' },
      { index: 6, error: 'invalid_corrects_key' },
    ]);
    expect(body.accepted).toBe(2);
    const keys = await t.sql<{ idempotency_key: string }[]>`
      select idempotency_key from usage_ledger where user_id = ${user} order by idempotency_key`;
    expect(keys.map((row) => row.idempotency_key)).toEqual(['emoji-\ud83d\ude00', 'fine-1']);
  });

  it("user ids the billing API refuses (x'); drop..., \\ud800x, 201 characters): invalid_user_id, nothing stored", async () => {
    const before = await totalLedger();
    const ids = ["x'); drop table usage_ledger; --", '\ud800x', 'a'.repeat(201), 'white space'];
    const records = ids.map((userId, i) => good(userId, `id-${i}`));
    const { status, body } = await json<UsageAnswer>(
      await t.call('/api/usage', { method: 'POST', json: { records } }),
    );
    expect(status).toBe(200);
    expect(body.accepted).toBe(0);
    expect(body.rejected.map((r) => r.error)).toEqual(ids.map(() => 'invalid_user_id'));
    expect(await totalLedger()).toBe(before);
    // U+FFFD is what \ud800x would have been stored as.
    expect(await ledgerCount(['\ufffdx', 'x'])).toBe(0);
  });

  it('dates that do not exist or predate every period: rejected, nothing stored', async () => {
    const user = uniqueUser('dates');
    const dates = [
      '2026-02-31T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-04-31T12:00:00Z',
      '2026-03-10T24:00:00Z',
      '2026-03-10T10:60:00Z',
      '0001-01-01T00:00:00Z',
      '2023-12-31T23:59:59Z',
    ];
    const records = dates.map((occurredAt, i) => ({ ...good(user, `d-${i}`), occurredAt }));
    const { status, body } = await json<UsageAnswer>(
      await t.call('/api/usage', { method: 'POST', json: { records } }),
    );
    expect(status).toBe(200);
    expect(body.rejected.map((r) => r.error)).toEqual([
      'invalid_occurred_at',
      'invalid_occurred_at',
      'invalid_occurred_at',
      'invalid_occurred_at',
      'invalid_occurred_at',
      'before_first_period',
      'before_first_period',
    ]);
    expect(await ledgerCount([user])).toBe(0);
    // A real leap day is a date.
    const leap = await json<UsageAnswer>(
      await t.call('/api/usage', {
        method: 'POST',
        json: { ...good(user, 'leap'), occurredAt: '2024-02-29T08:00:00+02:00' },
      }),
    );
    expect(leap.body).toMatchObject({ accepted: 1, rejected: [] });
  });

  it('atomic: one bad record rejects the batch and stores nothing', async () => {
    const user = uniqueUser('atomic');
    const records = [good(user, 'a-1'), { ...good(user, 'a-2'), userId: `${user}\u0000` }];
    const { status, body } = await json<UsageAnswer>(
      await t.call('/api/usage', { method: 'POST', json: { atomic: true, records } }),
    );
    expect(status).toBe(200);
    expect(body.accepted).toBe(0);
    expect(body.rejected).toEqual([
      { index: 0, error: 'batch_rejected' },
      { index: 1, error: 'invalid_user_id' },
    ]);
    expect(await ledgerCount([user])).toBe(0);
  });
});
