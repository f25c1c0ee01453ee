import type { WriteSource } from '../context.js';
import { normalizePlan, normalizePrice, normalizeProduct } from '../normalize/catalog.js';
import { normalizeCustomer } from '../normalize/customer.js';
import { normalizeEntitlementSummary } from '../normalize/entitlements.js';
import { normalizeInvoice } from '../normalize/invoice.js';
import { normalizeInvoicePayment } from '../normalize/invoice-payment.js';
import { normalizeSubscription } from '../normalize/subscription.js';
import { normalizeSubscriptionSchedule } from '../normalize/subscription-schedule.js';
import {
  deletedStateRank,
  INVOICE_PAYMENT_STATE_RANK,
  INVOICE_STATE_RANK,
  SCHEDULE_STATE_RANK,
  SUBSCRIPTION_STATE_RANK,
  stateRank,
  writeRank,
} from '../rank.js';
import type { SyncFamily } from '../refetch.js';
import type { GuardedStatement } from './statement.js';
import { STATEMENTS } from './tables.js';

/**
 * How each object family becomes a row of its table: normaliser, ordering rank, lock key and
 * the input fields of its guarded statement. One model per family; `plan` shares the price
 * statement (a legacy plan is the recurring price with the same id).
 */
export interface Model {
  family: SyncFamily;
  statement: GuardedStatement;
  /** Normalises an object delivered with `source` (the event type decides `deleted`). */
  normalize(object: unknown, source: WriteSource): Normalized;
  /** Normalises a copy re-read from Stripe; a deleted stub keeps the payload's fields. */
  fromStripe(fresh: Record<string, unknown>, payload: Normalized, source: WriteSource): Normalized;
}

export interface Normalized {
  /** Primary key of the row. */
  key: string;
  /** The customer whose lock serialises this write (null: the object's own lock). */
  customerId: string | null;
  /** State rank of the content (rank.ts), combined with the action rank of the source. */
  state: number;
  livemode: boolean | undefined;
  /** Input fields of the statement, snake_case, stamp excluded. */
  fields: Record<string, unknown>;
  /** Family-specific extras the writer needs after the statement. */
  extra?: {
    userId?: string | null;
    items?: Record<string, unknown>[];
    itemsComplete?: boolean;
    complete?: boolean;
  };
}

export const rankOf = (n: Normalized, source: WriteSource) => writeRank(source.eventType, n.state);

const customer: Model = {
  family: 'customer',
  statement: STATEMENTS.customer,
  normalize(object, source) {
    const c = normalizeCustomer(object, { deleted: source.eventType === 'customer.deleted' });
    return {
      key: c.id,
      customerId: c.id,
      state: deletedStateRank(c.deleted),
      livemode: c.livemode,
      fields: {
        id: c.id,
        user_id: c.userId,
        email: c.email,
        name: c.name,
        currency: c.currency,
        deleted: c.deleted,
        metadata: c.metadata,
        created_at: c.createdAt,
      },
    };
  },
  fromStripe(fresh, payload, source) {
    // A retrieved deleted customer is a stub (`{ id, deleted: true }`).
    if (fresh.deleted === true)
      return {
        ...payload,
        state: deletedStateRank(true),
        fields: { ...payload.fields, deleted: true },
      };
    return customer.normalize(fresh, source);
  },
};

const subscription: Model = {
  family: 'subscription',
  statement: STATEMENTS.subscription,
  normalize(object) {
    const s = normalizeSubscription(object);
    return {
      key: s.id,
      customerId: s.customerId,
      state: stateRank(SUBSCRIPTION_STATE_RANK, s.status),
      livemode: s.livemode,
      fields: {
        id: s.id,
        customer_id: s.customerId,
        user_id: s.userId,
        status: s.status,
        price_id: s.priceId,
        price_lookup_key: s.priceLookupKey,
        interval: s.interval,
        quantity: s.quantity,
        current_period_start: s.currentPeriodStart,
        current_period_end: s.currentPeriodEnd,
        cancel_at_period_end: s.cancelAtPeriodEnd,
        cancel_at: s.cancelAt,
        canceled_at: s.canceledAt,
        ended_at: s.endedAt,
        trial_start: s.trialStart,
        trial_end: s.trialEnd,
        pause_collection: s.pauseCollection,
        pending_update: s.pendingUpdate,
        schedule_id: s.scheduleId,
        metadata: s.metadata,
        created_at: s.createdAt,
      },
      extra: {
        userId: s.userId,
        items: s.items.map((item) => ({
          id: item.id,
          subscription_id: s.id,
          price_id: item.priceId,
          quantity: item.quantity,
          current_period_start: item.currentPeriodStart,
          current_period_end: item.currentPeriodEnd,
          metadata: item.metadata,
          created_at: item.createdAt,
        })),
        itemsComplete: s.itemsComplete,
      },
    };
  },
  fromStripe: (fresh, _payload, source) => subscription.normalize(fresh, source),
};

const invoice: Model = {
  family: 'invoice',
  statement: STATEMENTS.invoice,
  normalize(object, source) {
    const i = normalizeInvoice(object, { eventType: source.eventType });
    // invoice.deleted (only drafts get it) keeps the row with status `deleted`.
    const status = source.eventType === 'invoice.deleted' ? 'deleted' : i.status;
    return {
      key: i.id,
      customerId: i.customerId,
      state: stateRank(INVOICE_STATE_RANK, status),
      livemode: i.livemode,
      fields: {
        id: i.id,
        customer_id: i.customerId,
        subscription_id: i.subscriptionId,
        subscription_user_id: i.subscriptionUserId,
        status,
        currency: i.currency,
        amount_due: i.amountDue,
        amount_paid: i.amountPaid,
        amount_remaining: i.amountRemaining,
        subtotal: i.subtotal,
        total: i.total,
        billing_reason: i.billingReason,
        number: i.number,
        hosted_invoice_url: i.hostedInvoiceUrl,
        attempt_count: i.attemptCount,
        next_payment_attempt: i.nextPaymentAttempt,
        paid: i.paid,
        paid_at: i.paidAt,
        period_start: i.periodStart,
        period_end: i.periodEnd,
        last_payment_error: i.lastPaymentError,
        metadata: i.metadata,
        created_at: i.createdAt,
      },
    };
  },
  fromStripe: (fresh, payload, source) =>
    fresh.deleted === true ? payload : invoice.normalize(fresh, source),
};

const invoicePayment: Model = {
  family: 'invoice_payment',
  statement: STATEMENTS.invoice_payment,
  normalize(object) {
    const p = normalizeInvoicePayment(object);
    return {
      key: p.id,
      customerId: null,
      state: stateRank(INVOICE_PAYMENT_STATE_RANK, p.status),
      livemode: p.livemode,
      fields: {
        id: p.id,
        invoice_id: p.invoiceId,
        status: p.status,
        currency: p.currency,
        amount_paid: p.amountPaid,
        amount_requested: p.amountRequested,
        is_default: p.isDefault,
        payment_intent_id: p.paymentIntentId,
        paid_at: p.paidAt,
        created_at: p.createdAt,
      },
    };
  },
  fromStripe: (fresh, _payload, source) => invoicePayment.normalize(fresh, source),
};

const product: Model = {
  family: 'product',
  statement: STATEMENTS.product,
  normalize(object, source) {
    const p = normalizeProduct(object, { deleted: source.eventType === 'product.deleted' });
    return {
      key: p.id,
      customerId: null,
      state: deletedStateRank(p.deleted),
      livemode: p.livemode,
      fields: {
        id: p.id,
        name: p.name,
        description: p.description,
        active: p.active,
        deleted: p.deleted,
        metadata: p.metadata,
        created_at: p.createdAt,
      },
    };
  },
  fromStripe(fresh, payload, source) {
    if (fresh.deleted === true)
      return {
        ...payload,
        state: deletedStateRank(true),
        fields: { ...payload.fields, deleted: true, active: false },
      };
    return product.normalize(fresh, source);
  },
};

function priceModel(family: 'price' | 'plan'): Model {
  const model: Model = {
    family,
    statement: STATEMENTS.price,
    normalize(object, source) {
      const deleted = source.eventType === 'price.deleted' || source.eventType === 'plan.deleted';
      const p =
        family === 'plan'
          ? normalizePlan(object, { deleted })
          : normalizePrice(object, { deleted });
      return {
        key: p.id,
        customerId: null,
        state: deletedStateRank(p.deleted),
        livemode: p.livemode,
        fields: {
          id: p.id,
          product_id: p.productId,
          active: p.active,
          deleted: p.deleted,
          currency: p.currency,
          unit_amount: p.unitAmount,
          type: p.type,
          recurring_interval: p.recurringInterval,
          recurring_interval_count: p.recurringIntervalCount,
          lookup_key: p.lookupKey,
          nickname: p.nickname,
          metadata: p.metadata,
          created_at: p.createdAt,
        },
      };
    },
    fromStripe(fresh, payload, source) {
      if (fresh.deleted === true)
        return {
          ...payload,
          state: deletedStateRank(true),
          fields: { ...payload.fields, deleted: true, active: false },
        };
      return model.normalize(fresh, source);
    },
  };
  return model;
}

const schedule: Model = {
  family: 'subscription_schedule',
  statement: STATEMENTS.subscription_schedule,
  normalize(object) {
    const s = normalizeSubscriptionSchedule(object);
    return {
      key: s.id,
      customerId: s.customerId,
      state: stateRank(SCHEDULE_STATE_RANK, s.status),
      livemode: s.livemode,
      fields: {
        id: s.id,
        customer_id: s.customerId,
        subscription_id: s.subscriptionId,
        status: s.status,
        phases: s.phases,
        end_behavior: s.endBehavior,
        metadata: s.metadata,
        created_at: s.createdAt,
      },
    };
  },
  fromStripe: (fresh, _payload, source) => schedule.normalize(fresh, source),
};

const entitlements: Model = {
  family: 'entitlements',
  statement: STATEMENTS.entitlements,
  normalize(object) {
    const s = normalizeEntitlementSummary(object);
    return {
      key: s.customerId,
      customerId: s.customerId,
      state: 0,
      livemode: s.livemode,
      fields: { customer_id: s.customerId, features: s.features },
      extra: { complete: s.complete },
    };
  },
  fromStripe: (fresh, _payload, source) => entitlements.normalize(fresh, source),
};

export const MODELS: Readonly<Record<SyncFamily, Model>> = {
  customer,
  subscription,
  invoice,
  invoice_payment: invoicePayment,
  price: priceModel('price'),
  plan: priceModel('plan'),
  product,
  subscription_schedule: schedule,
  entitlements,
};

/**
 * Tables in the order a batch writes them: customers first (later rows read their user),
 * prices before subscriptions (plan resolution reads lookup keys), subscriptions before
 * invoices (an invoice may take its subscription's user).
 */
export const WRITE_ORDER: readonly GuardedStatement[] = [
  STATEMENTS.customer,
  STATEMENTS.product,
  STATEMENTS.price,
  STATEMENTS.subscription,
  STATEMENTS.subscription_schedule,
  STATEMENTS.invoice,
  STATEMENTS.invoice_payment,
  STATEMENTS.entitlements,
];

/** The advisory lock key of a write: its customer's, else the object's own. */
export function lockKeyOf(model: Model, n: Normalized): string {
  if (n.customerId) return `billing:customer:${n.customerId}`;
  const table = model.family === 'plan' ? 'price' : model.family;
  return `billing:${table}:${n.key}`;
}
