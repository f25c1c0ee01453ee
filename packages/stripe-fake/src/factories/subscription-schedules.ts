import type { Stripe } from '@billing/stripe';
import { fixture } from '../fixtures.js';
import { nowSeconds, stripeId } from '../ids.js';
import { type DeepPartial, deepMerge, type Json, type Metadata, periodLength } from './base.js';

export interface SubscriptionScheduleOptions {
  id?: string;
  customer?: string;
  subscription?: string | null;
  status?: Stripe.SubscriptionSchedule.Status;
  /** Phases in order; default one phase with a fresh price from now to now+30d. */
  phases?: Array<{ price: string; quantity?: number; startDate: number; endDate: number | null }>;
  metadata?: Metadata;
  created?: number;
  overrides?: DeepPartial<Stripe.SubscriptionSchedule>;
}

export function subscriptionScheduleObject(
  options: SubscriptionScheduleOptions = {},
): Stripe.SubscriptionSchedule {
  const schedule = fixture<Json>('subscription_schedule');
  const created = options.created ?? nowSeconds();
  const template = (schedule.phases as Json[])[0] ?? {};
  const specs = options.phases ?? [
    { price: stripeId('price'), startDate: created, endDate: created + periodLength('month') },
  ];
  const phases = specs.map((spec) => {
    const phase = structuredClone(template);
    const item = structuredClone(((template.items as Json[]) ?? [])[0] ?? {});
    Object.assign(item, {
      price: spec.price,
      quantity: spec.quantity ?? 1,
      plan: spec.price,
      metadata: {},
      billing_thresholds: null,
    });
    Object.assign(phase, {
      start_date: spec.startDate,
      end_date: spec.endDate,
      items: [item],
      transfer_data: null,
      billing_thresholds: null,
    });
    return phase;
  });
  const status = options.status ?? (options.subscription ? 'active' : 'not_started');
  const current = specs.find(
    (spec) => spec.startDate <= created && (spec.endDate === null || created < spec.endDate),
  );
  Object.assign(schedule, {
    id: options.id ?? stripeId('sub_sched'),
    customer: options.customer ?? stripeId('cus'),
    subscription: options.subscription ?? null,
    status,
    phases,
    current_phase:
      status === 'active' && current
        ? { start_date: current.startDate, end_date: current.endDate }
        : null,
    metadata: options.metadata ?? {},
    created,
    canceled_at: status === 'canceled' ? created : null,
    completed_at: status === 'completed' ? created : null,
    released_at: status === 'released' ? created : null,
    released_subscription: null,
    default_settings: {
      ...(schedule.default_settings as Json),
      transfer_data: null,
      billing_thresholds: null,
    },
    livemode: false,
  });
  return deepMerge(schedule, options.overrides) as unknown as Stripe.SubscriptionSchedule;
}
