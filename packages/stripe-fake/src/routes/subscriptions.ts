import type { Stripe } from '@billing/stripe';
import { parameterMissing } from '../errors.js';
import {
  bool,
  int,
  listParams,
  metadata,
  newMetadata,
  nullableStr,
  objectList,
  oneOf,
  type Params,
  rangeFilter,
  requiredStr,
  str,
} from '../params.js';
import type { SubscriptionItemChange } from '../state.js';
import { paginate, type Route, route } from './routing.js';

/**
 * Decodes `items[n]` of a subscription update or an invoice preview into item changes; each
 * entry names an item `id`, a `price`, or `deleted`.
 */
export function itemChanges(
  list: Params[] | undefined,
  prefix: string,
): SubscriptionItemChange[] | undefined {
  return list?.map((item, index) => {
    const quantity = int(item, 'quantity', { min: 0 });
    const change: SubscriptionItemChange = {
      id: str(item, 'id') || undefined,
      price: str(item, 'price') || undefined,
      quantity,
      deleted: bool(item, 'deleted'),
      metadata: metadata(item),
    };
    if (!change.id && !change.price && !change.deleted)
      throw parameterMissing(`${prefix}[${index}][price]`);
    return change;
  });
}

/** `/v1/subscriptions` (create, retrieve, update, cancel, list) and `/v1/subscription_items`. */
export const subscriptionRoutes: Route[] = [
  route('POST', '/v1/subscriptions', ({ params, state, change }) => {
    const customer = requiredStr(params, 'customer');
    const items = objectList(params, 'items');
    if (!items || items.length === 0) throw parameterMissing('items');
    return state.createSubscription(
      {
        customer,
        items: items.map((item, index) => {
          const price = str(item, 'price');
          if (!price) throw parameterMissing(`items[${index}][price]`);
          return {
            price,
            quantity: int(item, 'quantity', { min: 0 }),
            metadata: newMetadata(item),
          };
        }),
        metadata: newMetadata(params),
        trialPeriodDays: int(params, 'trial_period_days', { min: 0, max: 730 }),
        cancelAtPeriodEnd: bool(params, 'cancel_at_period_end'),
        description: nullableStr(params, 'description') ?? null,
      },
      change,
    );
  }),
  route('GET', '/v1/subscriptions/:id', ({ path, state }) => state.getSubscription(path.id!)),
  route('POST', '/v1/subscriptions/:id', ({ path, params, state, change }) => {
    const trialEnd = str(params, 'trial_end');
    const cancelAt = params.cancel_at === undefined ? undefined : nullableStr(params, 'cancel_at');
    return state.updateSubscription(
      path.id!,
      {
        items: itemChanges(objectList(params, 'items'), 'items'),
        prorationBehavior: oneOf(params, 'proration_behavior', [
          'create_prorations',
          'none',
          'always_invoice',
        ] as const),
        prorationDate: int(params, 'proration_date'),
        cancelAtPeriodEnd: bool(params, 'cancel_at_period_end'),
        cancelAt:
          cancelAt === undefined ? undefined : cancelAt === null ? null : int(params, 'cancel_at'),
        metadata: metadata(params),
        trialEnd:
          trialEnd === undefined
            ? undefined
            : trialEnd === 'now'
              ? 'now'
              : int(params, 'trial_end'),
        description: nullableStr(params, 'description'),
      },
      change,
    );
  }),
  route('DELETE', '/v1/subscriptions/:id', ({ path, state, change }) =>
    state.cancelSubscription(path.id!, change),
  ),
  route('GET', '/v1/subscriptions', ({ params, state }) => {
    const customer = str(params, 'customer');
    const price = str(params, 'price');
    const status = oneOf(params, 'status', [
      'active',
      'all',
      'canceled',
      'ended',
      'incomplete',
      'incomplete_expired',
      'past_due',
      'paused',
      'trialing',
      'unpaid',
    ] as const);
    const created = rangeFilter(params, 'created');
    // Stripe's default hides canceled subscriptions; `status=all` shows every one.
    const statusMatches = (value: Stripe.Subscription.Status) =>
      status === 'all'
        ? true
        : status === undefined
          ? value !== 'canceled' && value !== 'incomplete_expired'
          : status === 'ended'
            ? value === 'canceled' || value === 'incomplete_expired'
            : value === status;
    return paginate(
      state,
      state.subscriptions.values(),
      (subscription) =>
        (customer === undefined || subscription.customer === customer) &&
        statusMatches(subscription.status) &&
        (price === undefined || subscription.items.data.some((item) => item.price.id === price)) &&
        (!created || created(subscription.created)),
      listParams(params),
      '/v1/subscriptions',
      'subscription',
    );
  }),
  route('GET', '/v1/subscription_items', ({ params, state }) => {
    const subscriptionId = requiredStr(params, 'subscription');
    const subscription = state.getSubscription(subscriptionId, 'subscription');
    return paginate(
      state,
      subscription.items.data,
      () => true,
      listParams(params),
      `/v1/subscription_items?subscription=${subscriptionId}`,
      'subscription item',
    );
  }),
];
