import { randomBytes } from 'node:crypto';
import { isLiveSubscriptionStatus } from '@billing/db/constants';
import {
  type Clients,
  inBatches,
  ScenarioError,
  type SimulatorStatus,
  type SubscriptionView,
  subscriptionOf,
  waitUntil,
} from './client.js';
import { consolePrinter, type Printer } from './report.js';

/**
 * N customers renew at the same moment (the first of the month at a SaaS company): the
 * simulator ends every subscription's period at once and sends 5 webhooks per customer
 * (subscription updated, invoice created, finalized, paid, payment succeeded), or
 * payment_failed + past_due for the share whose card declines. Reports how long the
 * system took until the API showed every customer's new period.
 */
export interface RenewalStormOptions {
  customers: number;
  /** Price references (lookup keys or ids) to subscribe to, from the plan list in use. */
  prices: string[];
  /** Share of renewals whose payment fails (0..1). */
  failRate?: number;
  timeoutMs?: number;
  /** Parallel requests while setting up and checking. */
  concurrency?: number;
  print?: Printer;
}

export interface RenewalStormResult {
  customers: number;
  renewed: number;
  pastDue: number;
  eventsSent: number;
  convergedMs: number;
}

export async function renewalStorm(
  { api, simulator }: Clients,
  options: RenewalStormOptions,
): Promise<RenewalStormResult> {
  const print = options.print ?? consolePrinter;
  const concurrency = options.concurrency ?? 16;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const run = randomBytes(3).toString('hex');
  const { prices } = options;
  if (prices.length === 0) throw new ScenarioError('the plan list has no paid prices to renew');
  const users = Array.from(
    { length: options.customers },
    (_, index) => `storm_${run}_${String(index + 1).padStart(4, '0')}`,
  );
  const failing = new Set(
    users.filter((_, index) => index < Math.round(users.length * (options.failRate ?? 0))),
  );

  print(`renewal storm: ${users.length} customers (run ${run})`);
  print(`  API ${api.baseUrl}   Stripe simulator ${simulator.baseUrl}`);

  // 1. Subscribers: one subscription each, created at "Stripe" (like `stripe trigger`).
  print(`\n1. creating ${users.length} subscriptions (${prices.join(', ')})`);
  const created = await inBatches(users, concurrency, (userId, index) =>
    simulator.post<{ subscription: { id: string } }>('/_simulator/subscriptions', {
      userId,
      price: prices[index % prices.length],
    }),
  );
  const subscriptionIds = created.map((reply) => reply.subscription.id);
  const synced = await waitUntil(
    () => inBatches(users, concurrency, (userId) => subscriptionOf(api, userId)),
    (views) => views.every((view) => view !== null && isLiveSubscriptionStatus(view.status)),
    { timeoutMs, intervalMs: 500, what: `all ${users.length} subscriptions to reach the API` },
  );
  print(`   the API shows all ${users.length} active after ${synced.waitedMs} ms`);
  const periodBefore = new Map(
    users.map((userId, index) => [userId, synced.value[index]!.currentPeriodStart]),
  );

  // 2. Everyone renews at once.
  const statusBefore = await simulator.get<SimulatorStatus>('/_simulator/status');
  print(`\n2. every period ends now${failing.size > 0 ? ` (${failing.size} cards decline)` : ''}`);
  const started = Date.now();
  const storm = await simulator.post<{
    renewals: Array<{ id: string; error?: string }>;
    events: number;
  }>('/_simulator/renewals', {
    subscriptions: subscriptionIds,
    failing: subscriptionIds.filter((_, index) => failing.has(users[index]!)),
  });
  const errors = storm.renewals.filter((renewal) => renewal.error);
  if (errors.length > 0)
    throw new ScenarioError(
      `${errors.length} renewals failed at the simulator: ${errors[0]!.error}`,
    );
  print(`   → POST /_simulator/renewals: ${storm.events} webhooks queued for the ingress`);

  // 3. Wait until the API shows every new period (or past_due for declined cards).
  const renewedView = (userId: string, view: SubscriptionView | null) =>
    view !== null &&
    view.currentPeriodStart !== periodBefore.get(userId) &&
    view.status === (failing.has(userId) ? 'past_due' : 'active');
  const converged = await waitUntil(
    () => inBatches(users, concurrency, (userId) => subscriptionOf(api, userId)),
    (views) => views.every((view, index) => renewedView(users[index]!, view)),
    { timeoutMs, intervalMs: 250, what: `all ${users.length} renewals to reach the API` },
  );
  const convergedMs = Date.now() - started;
  const statusAfter = await simulator.get<SimulatorStatus>('/_simulator/status');
  const delivered = statusAfter.webhooks.delivered - statusBefore.webhooks.delivered;
  const attempts = statusAfter.webhooks.attempts - statusBefore.webhooks.attempts;
  const pastDue = converged.value.filter((view) => view?.status === 'past_due').length;

  print(`\n3. what the API reports:`);
  print(`   all ${users.length} renewals visible after ${convergedMs} ms`);
  print(`   active: ${users.length - pastDue}   past_due: ${pastDue}`);
  print(
    `   webhooks: ${delivered} delivered in ${attempts} attempts (${attempts - delivered} retried), ${statusAfter.webhooks.failed} given up in total`,
  );
  print(`   e.g. ${users[0]}: ${JSON.stringify(converged.value[0])}`);
  return {
    customers: users.length,
    renewed: users.length - pastDue,
    pastDue,
    eventsSent: storm.events,
    convergedMs,
  };
}
