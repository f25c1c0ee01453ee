import type { Stripe } from '@billing/stripe';
import { resourceMissing } from './errors.js';
import { fixture } from './fixtures.js';
import { stripeId } from './ids.js';
import { MeterEventsState } from './state/meter-events.js';
import type { FakeStripeSnapshot, FakeStripeStateOptions, Ordered } from './state/types.js';

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

  /**
   * `GET /v1/plans/:id`: Stripe serves every recurring price as a plan with the same id (the
   * legacy view of it), so the plan is derived from the price, never stored twice.
   */
  getPlan(id: string): Stripe.Plan {
    const price = this.prices.get(id);
    if (!price?.recurring) throw resourceMissing('plan', id);
    return {
      ...fixture<Stripe.Plan>('plan'),
      id: price.id,
      active: price.active,
      amount: price.unit_amount,
      amount_decimal: price.unit_amount_decimal,
      billing_scheme: price.billing_scheme,
      created: price.created,
      currency: price.currency,
      interval: price.recurring.interval,
      interval_count: price.recurring.interval_count,
      livemode: false,
      metadata: price.metadata,
      meter: price.recurring.meter ?? null,
      nickname: price.nickname,
      product: price.product,
      tiers_mode: price.tiers_mode,
      transform_usage: null,
      trial_period_days: price.recurring.trial_period_days ?? null,
      usage_type: price.recurring.usage_type,
    };
  }

  /** Adds a subscription schedule built elsewhere (factories), without events. */
  seedSubscriptionSchedule(schedule: Stripe.SubscriptionSchedule): Stripe.SubscriptionSchedule {
    return this.store(
      this.subscriptionSchedules,
      schedule as Stripe.SubscriptionSchedule & Ordered,
    );
  }

  getSubscriptionSchedule(id: string): Stripe.SubscriptionSchedule {
    const schedule = this.subscriptionSchedules.get(id);
    if (!schedule) throw resourceMissing('subscription_schedule', id);
    return schedule;
  }

  /** Entitles a customer to a feature (what a subscribed product's features grant at Stripe). */
  grantEntitlement(
    customerId: string,
    lookupKey: string,
    feature = stripeId('feat_test'),
  ): Stripe.Entitlements.ActiveEntitlement {
    this.getCustomer(customerId, 'customer');
    const entitlement = {
      ...fixture<Stripe.Entitlements.ActiveEntitlement>('entitlements.active_entitlement'),
      id: stripeId('ent_test'),
      feature,
      livemode: false,
      lookup_key: lookupKey,
    };
    this.store(this.activeEntitlements, entitlement as typeof entitlement & Ordered);
    this.entitlementCustomers.set(entitlement.id, customerId);
    return entitlement;
  }

  getActiveEntitlement(id: string): Stripe.Entitlements.ActiveEntitlement {
    const entitlement = this.activeEntitlements.get(id);
    if (!entitlement) throw resourceMissing('entitlements.active_entitlement', id);
    return entitlement;
  }

  /** A customer's active entitlements (empty for a customer with none; 400 for an unknown customer). */
  activeEntitlementsOf(customerId: string): Stripe.Entitlements.ActiveEntitlement[] {
    this.getCustomer(customerId, 'customer');
    return [...this.activeEntitlements.values()].filter(
      (entitlement) => this.entitlementCustomers.get(entitlement.id) === customerId,
    );
  }
}
