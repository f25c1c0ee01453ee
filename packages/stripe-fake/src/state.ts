import { MeterEventsState } from './state/meter-events.js';
import type { FakeStripeSnapshot, FakeStripeStateOptions } from './state/types.js';

export { previousAttributes } from './state/base.js';
export { subscriptionPeriod } from './state/prorations.js';
export type {
  ChangeContext,
  CheckoutSessionInput,
  EventListener,
  FakeStripeSnapshot,
  FakeStripeStateOptions,
  MetadataPatch,
  ProrationBehavior,
  SubscriptionItemChange,
  SubscriptionItemInput,
  SubscriptionUpdate,
} from './state/types.js';

/**
 * In-memory state of the fake Stripe account: one map per resource, and every change
 * recorded as a Stripe event (`customer.created`, `customer.subscription.updated` with
 * `previous_attributes`, ...) in `events`, so a simulator can later deliver them as webhooks.
 *
 * Methods take already-validated, camelCase inputs; the HTTP layer (server.ts) decodes and
 * checks Stripe's form parameters. Errors are StripeApiError, rendered the way Stripe does.
 *
 * The class is built in layers, one file per resource under `state/` (storage and events in
 * `base.ts`, then customers, products and prices, invoices, prorations, subscriptions, the
 * billing cycle, checkout, meter events), each adding its resource's operations on top of
 * the ones it needs; this is the last layer and the only one callers see.
 */
export class FakeStripeState extends MeterEventsState {
  /** A state holding what `toJSON()` wrote. Restoring records no events. */
  static fromJSON(
    snapshot: FakeStripeSnapshot,
    options: FakeStripeStateOptions = {},
  ): FakeStripeState {
    const state = new FakeStripeState(options);
    state.restore(snapshot);
    return state;
  }
}
