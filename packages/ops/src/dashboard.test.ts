import { describe, expect, it } from 'vitest';
import { isAllowedDashboardWrite } from './dashboard.js';

describe('queue dashboard write allow-list', () => {
  it('allows retrying failed jobs and cleaning', () => {
    expect(isAllowedDashboardWrite('PUT', '/api/queues/stripe-events/retry/failed')).toBe(true);
    expect(isAllowedDashboardWrite('PUT', '/api/queues/stripe-events/clean/completed')).toBe(true);
    expect(isAllowedDashboardWrite('PUT', '/api/queues/stripe-events/evt_123/retry')).toBe(true);
    expect(isAllowedDashboardWrite('PUT', '/api/queues/stripe-events/evt_123/clean')).toBe(true);
  });

  it('refuses every other change (pause, empty, obliterate, add, retry completed, edit)', () => {
    expect(isAllowedDashboardWrite('PUT', '/api/queues/stripe-events/pause')).toBe(false);
    expect(isAllowedDashboardWrite('PUT', '/api/queues/pause')).toBe(false);
    expect(isAllowedDashboardWrite('PUT', '/api/queues/stripe-events/empty')).toBe(false);
    expect(isAllowedDashboardWrite('PUT', '/api/queues/stripe-events/obliterate')).toBe(false);
    expect(isAllowedDashboardWrite('POST', '/api/queues/stripe-events/add')).toBe(false);
    expect(isAllowedDashboardWrite('PUT', '/api/queues/stripe-events/retry/completed')).toBe(false);
    expect(isAllowedDashboardWrite('PATCH', '/api/queues/stripe-events/evt_1/update-data')).toBe(
      false,
    );
    expect(isAllowedDashboardWrite('POST', '/api/queues/stripe-events/evt_1/retry')).toBe(false);
  });
});
