import { useTestServices } from '@billing/testing';
import { limitCounterValue } from '@billing/usage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi, uniqueUser } from './support.js';

/**
 * The usage limiter's Redis counter is exact while enforced and plain writes race on a
 * counter that does not exist yet (the seed from Postgres happens in the middle of them).
 * A free user has 100 compute minutes: 50 enforced and 50 plain 1-unit records fit exactly,
 * so every enforced record must be admitted and the ledger, the counter and
 * GET /api/billing/usage must all say 100 after every round.
 */
const services = await useTestServices('api-usage-counter');
let t: TestApi;
beforeAll(async () => {
  t = await startTestApi(services);
});
afterAll(async () => {
  await t?.close();
});

const ROUNDS = 10;
const EACH = 50;

async function post(userId: string, key: string, enforceLimit: boolean) {
  const response = await t.call('/api/usage', {
    method: 'POST',
    json: {
      enforceLimit,
      records: [
        {
          userId,
          metric: 'compute_minutes',
          quantity: 1,
          occurredAt: new Date().toISOString(),
          idempotencyKey: key,
        },
      ],
    },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { accepted: number; rejected: { error: string }[] };
}

describe('the usage limit counter under mixed enforced and plain writes', () => {
  it(`${EACH} enforced + ${EACH} plain 1-unit records racing on a new counter: ledger = counter = API, every round`, async () => {
    const mismatches: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const userId = uniqueUser(`race${round}`);
      const writes = Array.from({ length: EACH * 2 }, (_, i) =>
        post(userId, `r${round}-${i}`, i % 2 === 0),
      );
      const results = await Promise.all(writes);
      const refused = results.flatMap((r) => r.rejected.map((x) => x.error));

      const [ledger] = await t.sql<{ total: string }[]>`
        select coalesce(sum(quantity), 0)::text as total from usage_ledger where user_id = ${userId}`;
      const usage = (await (
        await t.call(`/api/billing/usage?userId=${userId}&metric=compute_minutes`)
      ).json()) as { used: number; periodStart: string; canMakeRequest: boolean };
      const counter = await limitCounterValue(
        { redis: t.redis, prefix: services.redisPrefix },
        { userId, metric: 'compute_minutes', periodStart: new Date(usage.periodStart) },
      );
      const figures = { ledger: Number(ledger?.total), counter, api: usage.used, refused };
      if (figures.ledger !== 100 || counter !== 100 || usage.used !== 100 || refused.length > 0)
        mismatches.push(`round ${round}: ${JSON.stringify(figures)}`);
    }
    expect(mismatches).toEqual([]);
  }, 300_000);
});
