import type { EventSummary, SubscriptionView, UsageView } from './client.js';

/** Console output of the scenarios: what was sent, and what the API reports afterwards. */

export type Printer = (line?: string) => void;

/** Plain stdout: the scenario's output is its product, not a log. */
export const consolePrinter: Printer = (line = '') => {
  process.stdout.write(`${line}\n`);
};

export const money = (minor: number, currency = 'usd'): string =>
  new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() }).format(
    minor / 100,
  );

const day = (iso: string | null) => (iso ? iso.slice(0, 10) : '—');

export function describeSubscription(subscription: SubscriptionView | null): string {
  if (!subscription) return 'no subscription (free plan)';
  const plan = subscription.planId
    ? `${subscription.planId} (${subscription.interval ?? '?'})`
    : (subscription.priceId ?? '?');
  const cancel = subscription.cancelAtPeriodEnd ? ', cancels at period end' : '';
  return `${subscription.id} ${subscription.status}, plan ${plan}, period ${day(subscription.currentPeriodStart)} → ${day(subscription.currentPeriodEnd)}${cancel}`;
}

export function describeUsage(usage: UsageView): string {
  return `${usage.used} / ${usage.limit} ${usage.metric} on ${usage.planType} (${usage.remaining} left${usage.canMakeRequest ? '' : ', over the limit'})`;
}

export function describeEvents(events: readonly EventSummary[]): string {
  return events.length === 0 ? '(none)' : events.map((event) => event.type).join(', ');
}
