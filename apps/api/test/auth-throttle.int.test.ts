import { randomBytes } from 'node:crypto';
import { useTestServices } from '@billing/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './support.js';

/**
 * Guessing credentials from one address: 700 random bearer tokens, 300 wrong basic-auth
 * passwords. Each used to be a 401 and a Postgres query. Now: past API_AUTH_FAILURE_LIMIT
 * (10 here) the address gets 429 before anything is looked up, and tokens that cannot be a
 * key, or a key already known to be unknown, cost no query at all.
 */
const services = await useTestServices('api-auth-throttle');
let throttled: TestApi;
let open: TestApi;

// The throttle counts per fixed window of the app's clock: frozen here, so a window boundary
// cannot fall inside a test however slowly a busy machine runs its 1,000 requests.
const frozen = Date.now();

beforeAll(async () => {
  throttled = await startTestApi(services, {
    now: () => frozen,
    config: { authFailures: { limit: 10, windowMs: 60_000 } },
  });
  open = await startTestApi(services);
});
afterAll(async () => {
  await throttled?.close();
  await open?.close();
});

const apiKeyQueries = (t: TestApi) => t.queries.filter((q) => /from "api_keys"/.test(q)).length;
const randomKey = () => `bk_${randomBytes(32).toString('base64url')}`;

describe('failed authentication is throttled per client address', () => {
  it('700 random bearer tokens: 10 × 401, then 429 with Retry-After; no api_keys query for them', async () => {
    const before = apiKeyQueries(throttled);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 700; i++) {
      const response = await throttled.call('/api/billing/plans', {
        token: randomBytes(24).toString('hex'),
      });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
      await response.arrayBuffer();
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(apiKeyQueries(throttled) - before).toBe(0);
  }, 60_000);

  it('300 wrong basic-auth passwords on /ops/queues from the throttled address: all 429, none checked', async () => {
    const statuses = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const auth = Buffer.from(`ops:wrong-${i}`).toString('base64');
      const response = await throttled.call('/ops/queues', {
        token: null,
        headers: { authorization: `Basic ${auth}` },
      });
      statuses.add(response.status);
      await response.arrayBuffer();
    }
    expect([...statuses]).toEqual([429]);
  }, 60_000);
});

describe('unknown keys are answered without a query per try', () => {
  it('the same unknown key 50 times: one api_keys query (negative cache); 20 malformed: none', async () => {
    const key = randomKey();
    const before = apiKeyQueries(open);
    for (let i = 0; i < 50; i++) {
      expect((await open.call('/api/billing/plans', { token: key })).status).toBe(401);
    }
    expect(apiKeyQueries(open) - before).toBe(1);
    for (let i = 0; i < 20; i++) {
      const response = await open.call('/api/billing/plans', { token: `bk_${'x'.repeat(i)}` });
      expect(response.status).toBe(401);
    }
    expect(apiKeyQueries(open) - before).toBe(1);
  });
});
