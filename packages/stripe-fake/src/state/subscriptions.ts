import { invalidRequest, resourceMissing } from '../errors.js';
import { type FixtureSubscription, invoiceLineObject, subscriptionObject } from '../factories.js';
import { DAY_SECONDS } from '../ids.js';
import { applyMetadata, previousAttributes } from './base.js';
import { nextPeriodEnd, ProrationsState, subscriptionPeriod } from './prorations.js';
import type {
  ChangeContext,
  Json,
  Metadata,
  SubscriptionItemInput,
  SubscriptionUpdate,
} from './types.js';

/** Subscriptions: create (with a first invoice), update (items, prorations, cancellation), cancel. */
export abstract class SubscriptionsState extends ProrationsState {
  getSubscription(id: string, param?: string): FixtureSubscription {
    const subscription = this.subscriptions.get(id);
    if (!subscription) throw resourceMissing('subscription', id, param);
    return subscription;
  }

  /**
   * Creates an active (or trialing) subscription and its first invoice, paid; emits
   * `customer.subscription.created` and the invoice events in Stripe's order.
   */
  createSubscription(
    input: {
      customer: string;
      items: SubscriptionItemInput[];
      metadata?: Metadata;
      trialPeriodDays?: number;
      cancelAtPeriodEnd?: boolean;
      description?: string | null;
      /**
       * `incomplete`: the subscription is created incomplete and turns active once its first
       * invoice is paid (what Checkout does). Default: created active (or trialing).
       */
      initialStatus?: 'incomplete';
      /** Overrides the customer's card (`setCardDeclines`) for the first invoice. */
      paymentFails?: boolean;
    },
    context?: ChangeContext,
  ): FixtureSubscription {
    this.getCustomer(input.customer, 'customer');
    if (input.items.length === 0) throw invalidRequest('Missing required param: items.', 'items');
    const seen = new Set<string>();
    const prices = input.items.map((item, index) => {
      if (seen.has(item.price)) {
        throw invalidRequest(
          `Cannot add multiple subscription items with the same price: ${item.price}`,
          `items[${index}][price]`,
        );
      }
      seen.add(item.price);
      return this.recurringPrice(item.price, `items[${index}][price]`);
    });
    const now = this.now();
    const trialEnd = input.trialPeriodDays ? now + input.trialPeriodDays * DAY_SECONDS : null;
    const first = prices[0]!;
    // Calendar months on the start's day, as Stripe bills.
    const end = trialEnd ?? nextPeriodEnd(now, first);
    const liveStatus = trialEnd ? 'trialing' : 'active';
    const subscription = subscriptionObject({
      customer: input.customer,
      status: input.initialStatus ?? liveStatus,
      items: input.items.map((item, index) => ({
        price: prices[index]!,
        quantity: item.quantity ?? 1,
        metadata: item.metadata ?? {},
        created: now,
      })),
      metadata: input.metadata ?? {},
      currentPeriodStart: now,
      currentPeriodEnd: end,
      cancelAtPeriodEnd: input.cancelAtPeriodEnd ?? false,
      cancelAt: input.cancelAtPeriodEnd ? end : null,
      trialStart: trialEnd ? now : null,
      trialEnd,
      created: now,
    });
    subscription.description = input.description ?? null;
    this.store(this.subscriptions, subscription);
    this.emit('customer.subscription.created', subscription, undefined, context);
    const lines = subscription.items.data.map((item) =>
      invoiceLineObject({
        invoice: '',
        amount: trialEnd ? 0 : (item.price.unit_amount ?? 0) * (item.quantity ?? 1),
        price: item.price,
        quantity: item.quantity ?? 1,
        subscription: subscription.id,
        subscriptionItem: item.id,
        periodStart: now,
        periodEnd: end,
        description: `${item.quantity ?? 1} × ${this.productName(item.price)}${trialEnd ? ' (trial)' : ''}`,
      }),
    );
    const invoice = this.issueInvoice(
      {
        customer: input.customer,
        subscription: subscription.id,
        lines,
        billingReason: 'subscription_create',
        periodStart: now,
        periodEnd: now,
        paymentFails: input.paymentFails,
      },
      context,
    );
    const before = structuredClone(subscription) as unknown as Json;
    subscription.latest_invoice = invoice.id;
    // A declined first payment leaves the subscription incomplete (payment_behavior
    // allow_incomplete); a paid one makes it live.
    subscription.status = invoice.status === 'paid' ? liveStatus : 'incomplete';
    this.emit(
      'customer.subscription.updated',
      subscription,
      previousAttributes(before, subscription as unknown as Json),
      context,
    );
    return subscription;
  }

  updateSubscription(
    id: string,
    update: SubscriptionUpdate,
    context?: ChangeContext,
  ): FixtureSubscription {
    const subscription = this.getSubscription(id);
    if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
      const onlyMetadata = Object.entries(update).every(
        ([key, value]) => key === 'metadata' || value === undefined,
      );
      if (!onlyMetadata) {
        throw invalidRequest(
          'A canceled subscription can only update its cancellation_details and metadata.',
        );
      }
    }
    const before = structuredClone(subscription) as unknown as Json;
    const now = this.now();
    if (update.items && update.items.length > 0) {
      const { items, prorations } = this.planItemChanges(subscription, update.items);
      const behavior = update.prorationBehavior ?? 'create_prorations';
      const { lines, resetPeriod } = this.prorationLines(
        subscription,
        prorations,
        update.prorationDate ?? now,
      );
      if (resetPeriod) {
        for (const item of items) {
          (item as unknown as Json).current_period_start = resetPeriod.start;
          (item as unknown as Json).current_period_end = resetPeriod.end;
        }
        subscription.billing_cycle_anchor = resetPeriod.start;
      }
      subscription.items = { ...subscription.items, data: items };
      // An interval change bills at once (new cycle); always_invoice bills the prorations now;
      // create_prorations leaves them for the next invoice.
      if (
        lines.length > 0 &&
        behavior !== 'none' &&
        (behavior === 'always_invoice' || resetPeriod)
      ) {
        const invoice = this.issueInvoice(
          {
            customer: String(subscription.customer),
            subscription: id,
            lines,
            billingReason: 'subscription_update',
            periodStart: now,
            periodEnd: now,
          },
          context,
        );
        subscription.latest_invoice = invoice.id;
      } else if (lines.length > 0 && behavior === 'create_prorations') {
        // Stripe keeps these as pending invoice items, billed with the next invoice.
        const pending = this.pendingInvoiceLines.get(id) ?? [];
        pending.push(...lines);
        this.pendingInvoiceLines.set(id, pending);
      }
    }
    if (update.cancelAtPeriodEnd !== undefined) {
      subscription.cancel_at_period_end = update.cancelAtPeriodEnd;
      subscription.cancel_at = update.cancelAtPeriodEnd
        ? subscriptionPeriod(subscription).end
        : null;
      if (subscription.cancellation_details) {
        subscription.cancellation_details.reason = update.cancelAtPeriodEnd
          ? 'cancellation_requested'
          : null;
      }
    }
    if (update.cancelAt !== undefined) {
      subscription.cancel_at = update.cancelAt;
      subscription.cancel_at_period_end = false;
    }
    if (update.trialEnd !== undefined) {
      const trialEnd = update.trialEnd === 'now' ? now : update.trialEnd;
      subscription.trial_end = trialEnd;
      if (trialEnd <= now && subscription.status === 'trialing') subscription.status = 'active';
    }
    if (update.description !== undefined) subscription.description = update.description;
    subscription.metadata = applyMetadata(subscription.metadata, update.metadata);
    const previous = previousAttributes(before, subscription as unknown as Json);
    if (Object.keys(previous).length > 0)
      this.emit('customer.subscription.updated', subscription, previous, context);
    return subscription;
  }

  cancelSubscription(id: string, context?: ChangeContext): FixtureSubscription {
    const subscription = this.getSubscription(id);
    if (subscription.status === 'canceled') {
      throw resourceMissing('subscription', id);
    }
    const now = this.now();
    subscription.status = 'canceled';
    subscription.canceled_at = now;
    subscription.ended_at = now;
    subscription.cancel_at_period_end = false;
    if (subscription.cancellation_details) {
      subscription.cancellation_details.reason = 'cancellation_requested';
    }
    this.emit('customer.subscription.deleted', subscription, undefined, context);
    return subscription;
  }
}
