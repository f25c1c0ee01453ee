import { describe, expect, it } from 'vitest';
import { checkDashboardWrite } from './dashboard.js';

const none = new Map();
const allowed = async (method: string, path: string) =>
  (await checkDashboardWrite(method, path, none)).allowed;

describe('queue dashboard write guard', () => {
  it('allows retrying all failed jobs and cleaning completed or failed ones', async () => {
    expect(await allowed('PUT', '/api/queues/stripe-events/retry/failed')).toBe(true);
    expect(await allowed('PUT', '/api/queues/stripe-events/clean/completed')).toBe(true);
    expect(await allowed('PUT', '/api/queues/stripe-events/clean/failed')).toBe(true);
  });

  it('refuses cleaning unprocessed states and every other change', async () => {
    for (const status of ['wait', 'waiting', 'delayed', 'active', 'paused', 'prioritized']) {
      expect(await allowed('PUT', `/api/queues/stripe-events/clean/${status}`)).toBe(false);
    }
    expect(await allowed('PUT', '/api/queues/stripe-events/pause')).toBe(false);
    expect(await allowed('PUT', '/api/queues/pause')).toBe(false);
    expect(await allowed('PUT', '/api/queues/stripe-events/empty')).toBe(false);
    expect(await allowed('PUT', '/api/queues/stripe-events/obliterate')).toBe(false);
    expect(await allowed('POST', '/api/queues/stripe-events/add')).toBe(false);
    expect(await allowed('PUT', '/api/queues/stripe-events/retry/completed')).toBe(false);
    expect(await allowed('PATCH', '/api/queues/stripe-events/evt_1/update-data')).toBe(false);
    expect(await allowed('POST', '/api/queues/stripe-events/evt_1/retry')).toBe(false);
  });

  it('one-job actions on an unknown queue or job are a 404', async () => {
    expect(await checkDashboardWrite('PUT', '/api/queues/nope/evt_1/retry', none)).toMatchObject({
      allowed: false,
      status: 404,
    });
  });
});
