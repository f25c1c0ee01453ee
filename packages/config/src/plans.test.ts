import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PLANS_FILE, loadPlanList, parsePlanList } from './plans.js';

const free = { id: 'free', name: 'Free', limits: { compute_minutes: 100 } };
const pro = {
  id: 'pro',
  name: 'Pro',
  prices: { month: 'price_123', year: 'pro_yearly' },
  limits: { compute_minutes: 5000 },
};

describe('plan list', () => {
  it('loads the shipped config/plans.json', () => {
    const planList = loadPlanList(DEFAULT_PLANS_FILE);
    expect(planList.plans.map((plan) => plan.id)).toEqual(['free', 'pro', 'business']);
    expect(planList.plans[0]?.sortOrder).toBe(0);
  });

  it('accepts the documented example shape', () => {
    expect(parsePlanList({ plans: [free, pro] }).plans).toHaveLength(2);
  });

  it('names the entry when a limit is negative', () => {
    const bad = { plans: [free, { ...pro, limits: { compute_minutes: -5 } }] };
    expect(() => parsePlanList(bad)).toThrow(/plans\[1\]\.limits\.compute_minutes \(plan "pro"\)/);
  });

  it('names the entry when an interval is unknown', () => {
    const bad = { plans: [free, { ...pro, prices: { week: 'price_w' } }] };
    expect(() => parsePlanList(bad)).toThrow(/plans\[1\].*\(plan "pro"\)/);
  });

  it('rejects two free plans', () => {
    expect(() => parsePlanList({ plans: [free, { ...free, id: 'free2' }] })).toThrow(
      /exactly one plan must have no prices/,
    );
  });

  it('rejects a duplicate plan id and a price used by two plans', () => {
    expect(() => parsePlanList({ plans: [free, pro, { ...pro }] })).toThrow(
      /duplicate plan id "pro"/,
    );
    expect(() => parsePlanList({ plans: [free, pro, { ...pro, id: 'team' }] })).toThrow(
      /price "price_123" is already used by plan "pro"/,
    );
  });

  it('reports a file that is not JSON with the variable name', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'plans-'));
    const file = path.join(dir, 'plans.json');
    writeFileSync(file, '{ not json');
    expect(() => loadPlanList(file)).toThrow(/PLANS_FILE: .* is not valid JSON/);
    expect(() => loadPlanList(path.join(dir, 'missing.json'))).toThrow(/PLANS_FILE: cannot read/);
  });
});
