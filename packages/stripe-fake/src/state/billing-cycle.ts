import type { Stripe } from '@billing/stripe';
import { invalidRequest } from '../errors.js';
import { type FixtureSubscription, invoiceLineObject, invoiceObject } from '../factories.js';
import { DAY_SECONDS, stripeId } from '../ids.js';
import { previousAttributes } from './base.js';
import { intervalSeconds, nextPeriodEnd, subscriptionPeriod } from './prorations.js';
import { SubscriptionsState } from './subscriptions.js';
import type { ChangeContext, Json, ProrationBehavior, SubscriptionItemChange } from './types.js';

/**
 * The billing cycle without a clock: previewing the next invoice of a change, and ending a
 * subscription's period now (renewed and billed, past_due, or canceled).
 */
export abstract class BillingCycleState extends SubscriptionsState {
  /**
   * `POST /v1/invoices/create_preview`: the invoice a change would produce, without
   * changing anything. For an existing subscription with item changes: the proration lines,
   * plus (unless `always_invoice`) the next period at the new prices. For a new subscription:
   * its first invoice.
   */
  previewInvoice(input: {
    customer?: string;
    subscription?: string;
    items?: SubscriptionItemChange[];
    prorationDate?: number;
    prorationBehavior?: ProrationBehavior;
  }): Stripe.Invoice {
    const now = this.now();
    let lines: Json[] = [];
    let customer = input.customer;
    let subscriptionId: string | null = null;
    let periodStart = now;
    let periodEnd = now;
    if (input.subscription) {
      const subscription = this.getSubscription(input.subscription, 'subscription');
      if (customer && customer !== subscription.customer) {
        throw invalidRequest(
          `The subscription does not belong to customer ${customer}.`,
          'customer',
        );
      }
      customer = String(subscription.customer);
      subscriptionId = subscription.id;
      const behavior = input.prorationBehavior ?? 'create_prorations';
      const { items, prorations } = this.planItemChanges(subscription, input.items ?? []);
      const prorationDate = input.prorationDate ?? now;
      const { lines: prorationLines, resetPeriod } = this.prorationLines(
        subscription,
        prorations,
        prorationDate,
      );
      if (behavior !== 'none') lines.push(...prorationLines);
      const { end } = subscriptionPeriod(subscription);
      if (behavior !== 'always_invoice' && !resetPeriod) {
        // Pending proration items from earlier changes are billed with the next invoice.
        lines.push(...(structuredClone(this.pendingLines(subscription.id)) as Json[]));
        for (const item of items) {
          lines.push(
            invoiceLineObject({
              invoice: '',
              amount: (item.price.unit_amount ?? 0) * (item.quantity ?? 1),
              price: item.price,
              quantity: item.quantity ?? 1,
              subscription: subscription.id,
              subscriptionItem: item.id,
              periodStart: end,
              periodEnd: end + intervalSeconds(item.price),
              description: `${item.quantity ?? 1} × ${this.productName(item.price)}`,
            }),
          );
        }
        periodStart = subscriptionPeriod(subscription).start;
        periodEnd = end;
      }
    } else {
      if (!customer) throw invalidRequest('Missing required param: customer.', 'customer');
      this.getCustomer(customer, 'customer');
      lines = (input.items ?? []).map((change, index) => {
        if (!change.price)
          throw invalidRequest(
            `Missing required param: subscription_details[items][${index}][price].`,
          );
        const price = this.recurringPrice(
          change.price,
          `subscription_details[items][${index}][price]`,
        );
        return invoiceLineObject({
          invoice: '',
          amount: (price.unit_amount ?? 0) * (change.quantity ?? 1),
          price,
          quantity: change.quantity ?? 1,
          subscriptionItem: stripeId('si'),
          periodStart: now,
          periodEnd: now + intervalSeconds(price),
          description: `${change.quantity ?? 1} × ${this.productName(price)}`,
        });
      });
    }
    const id = stripeId('upcoming_in');
    for (const line of lines) line.invoice = id;
    const total = lines.reduce((sum, line) => sum + Number(line.amount ?? 0), 0);
    const invoice = invoiceObject({
      id,
      customer,
      subscription: subscriptionId,
      status: 'draft',
      lines,
      amountDue: total,
      billingReason: subscriptionId ? 'upcoming' : 'subscription_create',
      periodStart,
      periodEnd,
      created: now,
    });
    // A negative total (a downgrade) is owed to the customer as credit, not charged.
    invoice.amount_due = Math.max(0, total);
    invoice.amount_remaining = Math.max(0, total);
    invoice.ending_balance = Math.min(total, 0);
    invoice.starting_balance = 0;
    return invoice;
  }

  /**
   * The subscription's current period ends now (what a test clock advancing to the period
   * end does, without moving time): a subscription set to cancel at the period end is
   * canceled (`customer.subscription.deleted`); any other moves to a new period starting
   * now (`customer.subscription.updated`) and is billed for it, with any pending proration
   * lines (`invoice.created` → `invoice.finalized` → `invoice.paid` →
   * `invoice.payment_succeeded`). A declined charge leaves the invoice open
   * (`invoice.payment_failed`) and the subscription `past_due`.
   */
  renewSubscription(
    id: string,
    options: { paymentFails?: boolean } = {},
    context?: ChangeContext,
  ): { subscription: FixtureSubscription; invoice: Stripe.Invoice | null } {
    const subscription = this.getSubscription(id);
    if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
      throw invalidRequest(`Subscription ${id} has ended (${subscription.status}).`);
    }
    if (subscription.status === 'incomplete') {
      throw invalidRequest(`Subscription ${id} is incomplete: pay its first invoice first.`);
    }
    const now = this.now();
    const period = subscriptionPeriod(subscription);
    const ends =
      subscription.cancel_at_period_end ||
      (subscription.cancel_at !== null && subscription.cancel_at <= period.end);
    if (ends) {
      subscription.status = 'canceled';
      subscription.ended_at = now;
      subscription.canceled_at = subscription.canceled_at ?? now;
      this.pendingInvoiceLines.delete(id);
      this.emit('customer.subscription.deleted', subscription, undefined, context);
      return { subscription, invoice: null };
    }
    const before = structuredClone(subscription) as unknown as Json;
    // As at Stripe, the next period starts where the old one ended (the simulator ends a
    // period early by jumping to its end, as a test clock advanced there would), and ends one
    // interval later by calendar arithmetic on the billing cycle anchor's day.
    const start = Math.max(period.end, period.start + 1);
    // A trial's end becomes the anchor of the paid cycle, as at Stripe.
    if (subscription.status === 'trialing') subscription.billing_cycle_anchor = start;
    const anchor = subscription.billing_cycle_anchor ?? period.start;
    const invoiceId = stripeId('in');
    const items = subscription.items.data;
    const itemEnds: number[] = [];
    for (const item of items) {
      const end = nextPeriodEnd(start, item.price, anchor);
      itemEnds.push(end);
      const shaped = item as unknown as Json;
      if (
        shaped.current_period_start !== undefined ||
        subscription.current_period_start === undefined
      ) {
        shaped.current_period_start = start;
        shaped.current_period_end = end;
      }
    }
    const newEnd = itemEnds[0] ?? start + 30 * DAY_SECONDS;
    if (subscription.current_period_start !== undefined) {
      subscription.current_period_start = start;
      subscription.current_period_end = newEnd;
    }
    if (
      subscription.status === 'trialing' &&
      (subscription.trial_end ?? 0) <= Math.max(now, start)
    ) {
      subscription.status = 'active';
    }
    subscription.latest_invoice = invoiceId;
    this.emit(
      'customer.subscription.updated',
      subscription,
      previousAttributes(before, subscription as unknown as Json),
      context,
    );
    const lines = [
      ...(this.pendingInvoiceLines.get(id) ?? []),
      ...items.map((item) =>
        invoiceLineObject({
          invoice: '',
          amount: (item.price.unit_amount ?? 0) * (item.quantity ?? 1),
          price: item.price,
          quantity: item.quantity ?? 1,
          subscription: id,
          subscriptionItem: item.id,
          periodStart: start,
          periodEnd: nextPeriodEnd(start, item.price, anchor),
          description: `${item.quantity ?? 1} × ${this.productName(item.price)}`,
        }),
      ),
    ];
    this.pendingInvoiceLines.delete(id);
    const invoice = this.issueInvoice(
      {
        id: invoiceId,
        customer: String(subscription.customer),
        subscription: id,
        lines,
        billingReason: 'subscription_cycle',
        periodStart: period.start,
        periodEnd: period.end,
        paymentFails: options.paymentFails,
      },
      context,
    );
    if (invoice.status !== 'paid' && subscription.status !== 'past_due') {
      const status = subscription.status;
      subscription.status = 'past_due';
      this.emit('customer.subscription.updated', subscription, { status }, context);
    }
    return { subscription, invoice };
  }
}
