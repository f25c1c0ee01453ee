import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PLANS_FILE, loadPlanList } from '@billing/config';
import { clients, journey, renewalStorm, scenarioPlans } from '@billing/stripe-simulator';
import { useTestServices } from '@billing/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_TOKEN } from '../support.js';
import { type SimulatedStack, startSimulatedStack } from './stack.js';

/**
 * `npm run simulate -- journey | renewal-storm` against the whole system in simulator mode
 * (the scenarios' own code, pointed at this file's stack): every step's outcome has to come
 * back through signed webhooks → ingress → queue → worker → Postgres → API.
 */
const services = await useTestServices('simulate');

let stack: SimulatedStack;
const printed: string[] = [];
const print = (line = '') => printed.push(line);

beforeAll(async () => {
  // Room for the stack's child processes to start on a busy machine (90 s each, in parallel).
  stack = await startSimulatedStack(services);
}, 300_000);
afterAll(async () => {
  await stack?.close();
}, 60_000);

const connect = () =>
  clients({ apiUrl: stack.url, simulatorUrl: stack.simulator.url, serviceToken: SERVICE_TOKEN });

describe('simulate scenarios', () => {
  it('journey: checkout → usage → upgrade → payment failed → recovered → cancelled → deleted, as the API reports it', async () => {
    const plans = scenarioPlans(loadPlanList(DEFAULT_PLANS_FILE));
    const result = await journey(connect(), { userId: 'journey_user_1', print, plans });

    expect(
      result.steps.map((step) => [
        step.name,
        step.subscription?.status ?? null,
        step.subscription?.planId ?? null,
      ]),
    ).toEqual([
      ['signup', null, null],
      ['checkout', 'active', 'pro'],
      ['upgrade', 'active', 'business'],
      ['payment failed', 'past_due', 'business'],
      ['recovered', 'active', 'business'],
      ['cancel at period end', 'active', 'business'],
      ['deleted', 'canceled', 'business'],
    ]);
    expect(
      result.steps.find((step) => step.name === 'cancel at period end')?.subscription
        ?.cancelAtPeriodEnd,
    ).toBe(true);
    // Once deleted, the free plan's limits apply again.
    expect(result.usage).toMatchObject({ planType: 'free', limit: 100 });
    expect(printed.join('\n')).toContain(
      'webhooks: customer.subscription.created, invoice.created, invoice.finalized, invoice.paid, invoice.payment_succeeded, customer.subscription.updated, checkout.session.completed',
    );
    expect(printed.join('\n')).toContain(
      'webhooks: customer.subscription.updated, invoice.created, invoice.finalized, invoice.payment_failed, customer.subscription.updated',
    );
  }, 90_000);

  it('renewal storm: every customer renews at once and the API shows each new period (declined cards past_due)', async () => {
    const { prices } = scenarioPlans(loadPlanList(DEFAULT_PLANS_FILE));
    const result = await renewalStorm(connect(), { customers: 6, failRate: 0.34, print, prices });
    expect(result).toMatchObject({ customers: 6, renewed: 4, pastDue: 2, eventsSent: 30 });
    expect(stack.simulator.webhooks.stats().failed).toBe(0);
  }, 90_000);
});

// The same journey with another catalogue: it used to stop at the upgrade with
// `unknown plan "business"`, because the scenario named the default file's plans.
const THREE_PLANS = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'fixtures',
  'plans-starter-pro.json',
);

describe('simulate scenarios with a free/starter/pro plan file', () => {
  let other: SimulatedStack;
  beforeAll(async () => {
    other = await startSimulatedStack(services, { plansFile: THREE_PLANS });
  }, 90_000);
  afterAll(async () => {
    await other?.close();
  }, 60_000);

  it('buys the first paid plan and upgrades to the second, then renews to a later period', async () => {
    const plans = scenarioPlans(loadPlanList(THREE_PLANS));
    expect([plans.start.id, plans.upgrade.id]).toEqual(['starter', 'pro']);
    const result = await journey(
      clients({
        apiUrl: other.url,
        simulatorUrl: other.simulator.url,
        serviceToken: SERVICE_TOKEN,
      }),
      { userId: 'journey_three_plans', print, plans },
    );
    expect(result.steps.map((step) => step.subscription?.planId ?? null)).toEqual([
      null,
      'starter',
      'pro',
      'pro',
      'pro',
      'pro',
      'pro',
    ]);
    expect(result.usage).toMatchObject({ planType: 'free', limit: 100 });
  }, 120_000);
});
