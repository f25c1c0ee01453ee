/**
 * Subscription statuses that grant the paid plan: a past_due subscription keeps its plan while
 * Stripe retries the payment, and a trial is the plan already. Every place that asks "is this
 * user on a paid plan" (the API's reads and actions, the usage period, the partial index that
 * serves the hot read) takes the rule from here.
 */
export const LIVE_SUBSCRIPTION_STATUSES = ['active', 'trialing', 'past_due'] as const;
export type LiveSubscriptionStatus = (typeof LIVE_SUBSCRIPTION_STATUSES)[number];

export const isLiveSubscriptionStatus = (status: string): status is LiveSubscriptionStatus =>
  (LIVE_SUBSCRIPTION_STATUSES as readonly string[]).includes(status);

/**
 * The same statuses as an SQL literal list, `'active', 'trialing', 'past_due'`, for fixed
 * predicates: the partial index is defined with it, and a query must spell its predicate as
 * literals (not bind parameters) for the planner to prove it matches that index under a
 * generic plan.
 */
export const LIVE_SUBSCRIPTION_STATUSES_SQL = LIVE_SUBSCRIPTION_STATUSES.map(
  (status) => `'${status}'`,
).join(', ');
