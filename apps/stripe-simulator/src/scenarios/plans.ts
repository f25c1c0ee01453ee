import type { PlanDefinition, PlanList } from '@billing/config';
import { ScenarioError } from './client.js';

/**
 * What the scenarios subscribe to, taken from the plan list the system runs with
 * (PLANS_FILE), so a journey works with any catalogue: the first two paid plans with a
 * monthly price (in the list's order) are the plan bought at checkout and the upgrade.
 */
export interface ScenarioPlans {
  start: PlanDefinition;
  upgrade: PlanDefinition;
  /** Every paid price reference of the list (monthly and yearly), for the renewal storm. */
  prices: string[];
}

export function scenarioPlans(list: PlanList, source = 'the plan list'): ScenarioPlans {
  const ordered = [...list.plans].sort((a, b) => (a.sortOrder ?? 0) - (b.sortOrder ?? 0));
  const monthly = ordered.filter((plan) => plan.prices?.month);
  const [start, upgrade] = monthly;
  if (!start || !upgrade) {
    throw new ScenarioError(
      `the journey needs two paid plans with a monthly price in ${source}; found ${monthly.length} (${monthly.map((plan) => plan.id).join(', ') || 'none'})`,
    );
  }
  const prices = ordered.flatMap((plan) =>
    [plan.prices?.month, plan.prices?.year].filter((ref): ref is string => Boolean(ref)),
  );
  return { start, upgrade, prices };
}
