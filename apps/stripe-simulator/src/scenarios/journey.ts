import { randomBytes } from 'node:crypto';
import {
  type Clients,
  type EventSummary,
  ScenarioError,
  type SubscriptionView,
  subscriptionOf,
  type UsageView,
  usageOf,
  userQuery,
  waitUntil,
} from './client.js';
import type { ScenarioPlans } from './plans.js';
import {
  consolePrinter,
  describeEvents,
  describeSubscription,
  describeUsage,
  money,
  type Printer,
} from './report.js';

/**
 * One customer's life, through the running system: signup → checkout → subscription active →
 * invoice paid → usage → upgrade with proration → payment failed → past_due → recovered →
 * cancel at period end → deleted. Each step does what the SaaS backend (service token) or
 * the customer / card network / clock (the simulator) would do, then waits until the API
 * reports the outcome, which only happens once Stripe's webhook has gone through the
 * ingress, the queue and the worker.
 */
export interface JourneyOptions {
  /** The plans to buy and upgrade to, from the plan list in use (scenarioPlans). */
  plans: ScenarioPlans;
  userId?: string;
  /** Where the checkout session sends the customer back to. */
  returnUrl?: string;
  /** Per-step wait for the webhook to land. */
  timeoutMs?: number;
  print?: Printer;
}

export interface JourneyStep {
  name: string;
  events: EventSummary[];
  subscription: SubscriptionView | null;
  waitedMs: number;
}

export interface JourneyResult {
  userId: string;
  steps: JourneyStep[];
  subscription: SubscriptionView | null;
  usage: UsageView;
}

interface CheckoutSession {
  url: string;
  sessionId: string;
  customerId: string;
}

interface SimulatorChange {
  events: EventSummary[];
  invoice?: { id: string; status: string; amount_due: number; currency: string } | null;
}

export async function journey(
  { api, simulator }: Clients,
  options: JourneyOptions,
): Promise<JourneyResult> {
  const print = options.print ?? consolePrinter;
  const userId = options.userId ?? `journey_${randomBytes(4).toString('hex')}`;
  const returnUrl =
    options.returnUrl ?? `${api.baseUrl}/billing?user=${encodeURIComponent(userId)}`;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const { start, upgrade: target } = options.plans;
  const steps: JourneyStep[] = [];
  let number = 0;

  const heading = (text: string) => print(`\n${++number}. ${text}`);
  const sent = (line: string) => print(`   → ${line}`);
  const webhooks = (events: EventSummary[]) => print(`   webhooks: ${describeEvents(events)}`);
  const settle = async (
    name: string,
    events: EventSummary[],
    done: (s: SubscriptionView | null) => boolean,
    what: string,
  ) => {
    const { value, waitedMs } = await waitUntil(() => subscriptionOf(api, userId), done, {
      timeoutMs,
      what,
    });
    print(`   API (${waitedMs} ms later): ${describeSubscription(value)}`);
    steps.push({ name, events, subscription: value, waitedMs });
    return value!;
  };

  print(`journey for user ${userId}`);
  print(`  API ${api.baseUrl}   Stripe simulator ${simulator.baseUrl}`);

  // 1. Signup: a new user is on the free plan.
  heading('signup: a new user starts on the free plan');
  const before = await usageOf(api, userId);
  sent(`GET /api/billing/usage?${userQuery(userId)}`);
  print(`   API: ${describeUsage(before)}`);
  steps.push({
    name: 'signup',
    events: [],
    subscription: await subscriptionOf(api, userId),
    waitedMs: 0,
  });

  // 2. Checkout: the app creates a session; the customer pays on the hosted page.
  heading(`checkout: ${start.name}, monthly`);
  const session = await api.post<CheckoutSession>('/api/billing/create-checkout-session', {
    userId,
    planId: start.id,
    interval: 'month',
    successUrl: `${returnUrl}&checkout=success`,
    cancelUrl: `${returnUrl}&checkout=cancel`,
  });
  sent(
    `POST /api/billing/create-checkout-session → ${session.sessionId} (customer ${session.customerId})`,
  );
  sent(`hosted checkout page: ${session.url}`);
  const paid = await simulator.post<SimulatorChange & { subscription: { id: string } | null }>(
    `/_simulator/checkout/${encodeURIComponent(session.sessionId)}/complete`,
  );
  sent(`the customer pays: POST /_simulator/checkout/${session.sessionId}/complete`);
  webhooks(paid.events);
  const active = await settle(
    'checkout',
    paid.events,
    (s) => s?.status === 'active' && s.planId === start.id,
    `the subscription to become active on ${start.id}`,
  );

  // 3. The first invoice is paid.
  heading('invoice paid');
  if (paid.invoice)
    print(
      `   invoice ${paid.invoice.id}: ${paid.invoice.status}, ${money(paid.invoice.amount_due, paid.invoice.currency)}`,
    );

  // 4. Usage: the app reports compute minutes.
  heading('usage: the app reports 1,250 compute minutes');
  const now = new Date().toISOString();
  const records = [400, 350, 500].map((quantity, index) => ({
    userId,
    metric: 'compute_minutes',
    quantity,
    occurredAt: now,
    idempotencyKey: `${userId}-run-${index}`,
  }));
  const ingested = await api.post<{ accepted: number; duplicates: number }>('/api/usage', {
    records,
  });
  sent(
    `POST /api/usage (${records.length} records) → accepted ${ingested.accepted}, duplicates ${ingested.duplicates}`,
  );
  const usage = await usageOf(api, userId);
  print(`   API: ${describeUsage(usage)}`);

  // 5. Upgrade with proration.
  heading(`upgrade: ${start.name} → ${target.name} (monthly), prorated`);
  const preview = await api.get<{
    amountDue: number;
    currency: string;
    nextInvoiceAmountDue: number;
  }>(
    `/api/billing/proration-preview?${userQuery(userId)}&planId=${encodeURIComponent(target.id)}&interval=month`,
  );
  sent(
    `GET /api/billing/proration-preview → proration ${money(preview.amountDue, preview.currency)}, next invoice ${money(preview.nextInvoiceAmountDue, preview.currency)}`,
  );
  const upgrade = await api.post<{ status: string }>('/api/billing/upgrade', {
    userId,
    planId: target.id,
    interval: 'month',
  });
  sent(`POST /api/billing/upgrade → ${upgrade.status}`);
  const upgraded = await settle(
    'upgrade',
    [],
    (s) => s?.planId === target.id,
    `the plan to change to ${target.id}`,
  );

  // 6. The renewal payment fails.
  heading('renewal: the card is declined');
  const failed = await simulator.post<SimulatorChange>(
    `/_simulator/subscriptions/${upgraded.id}/renew`,
    { paymentFails: true },
  );
  sent(
    `the period ends, the charge fails: POST /_simulator/subscriptions/${upgraded.id}/renew {"paymentFails":true}`,
  );
  if (failed.invoice)
    print(
      `   invoice ${failed.invoice.id}: ${failed.invoice.status}, ${money(failed.invoice.amount_due, failed.invoice.currency)} (includes the proration)`,
    );
  webhooks(failed.events);
  await settle(
    'payment failed',
    failed.events,
    // A renewal starts the next period even when its charge declines, as at Stripe.
    (s) =>
      s?.status === 'past_due' &&
      s.currentPeriodStart !== null &&
      upgraded.currentPeriodEnd !== null &&
      s.currentPeriodStart >= upgraded.currentPeriodEnd,
    'the subscription to become past_due in the next period',
  );

  // 7. Recovered: the customer fixes the card; the retry succeeds.
  heading('recovered: the customer updates the card, the retry succeeds');
  const recovered = await simulator.post<SimulatorChange>(
    `/_simulator/subscriptions/${upgraded.id}/recover`,
  );
  sent(`POST /_simulator/subscriptions/${upgraded.id}/recover`);
  webhooks(recovered.events);
  await settle(
    'recovered',
    recovered.events,
    (s) => s?.status === 'active',
    'the subscription to become active again',
  );

  // 8. Cancel at period end.
  heading('cancel at period end');
  const cancel = await api.post<{ status: string }>('/api/billing/cancel', { userId });
  sent(`POST /api/billing/cancel → ${cancel.status}`);
  await settle(
    'cancel at period end',
    [],
    (s) => s?.cancelAtPeriodEnd === true,
    'cancel_at_period_end to be set',
  );

  // 9. The period ends: the subscription is deleted.
  heading('the period ends: subscription deleted');
  const ended = await simulator.post<SimulatorChange>(
    `/_simulator/subscriptions/${upgraded.id}/renew`,
    {},
  );
  sent(`POST /_simulator/subscriptions/${upgraded.id}/renew`);
  webhooks(ended.events);
  const final = await settle(
    'deleted',
    ended.events,
    (s) => s?.status === 'canceled',
    'the subscription to be canceled',
  );

  const finalUsage = await usageOf(api, userId);
  print('\nwhat the API reports now:');
  print(`   GET /api/billing/subscription → ${describeSubscription(final)}`);
  print(`   GET /api/billing/usage        → ${describeUsage(finalUsage)}`);
  if (active.id !== final.id)
    throw new ScenarioError(
      `expected one subscription throughout, saw ${active.id} and ${final.id}`,
    );
  print(`\nopen ${returnUrl} to see this user on the billing page.`);
  return { userId, steps, subscription: final, usage: finalUsage };
}
