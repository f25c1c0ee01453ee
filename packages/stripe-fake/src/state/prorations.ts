import type { Stripe } from '@billing/stripe';
import { invalidRequest, parameterInvalid, resourceMissing } from '../errors.js';
import {
  type FixtureSubscription,
  invoiceLineObject,
  planObject,
  subscriptionItemObject,
} from '../factories.js';
import { DAY_SECONDS } from '../ids.js';
import { applyMetadata } from './base.js';
import { InvoicesState } from './invoices.js';
import type { Json, SubscriptionItemChange } from './types.js';

export const intervalSeconds = (price: Stripe.Price): number => {
  const count = price.recurring?.interval_count ?? 1;
  switch (price.recurring?.interval) {
    case 'day':
      return DAY_SECONDS * count;
    case 'week':
      return 7 * DAY_SECONDS * count;
    case 'year':
      return 365 * DAY_SECONDS * count;
    default:
      return 30 * DAY_SECONDS * count;
  }
};

/**
 * The end of a billing period that starts at `start`, as Stripe computes it: days and weeks
 * are fixed lengths; months and years are calendar arithmetic (UTC) on the anchor's day of
 * the month, clamped to the month's last day (an anchor on the 31st bills on Feb 28/29,
 * then on Mar 31 again), at the anchor's time of day.
 */
export function nextPeriodEnd(start: number, price: Stripe.Price, anchor = start): number {
  const count = price.recurring?.interval_count ?? 1;
  const interval = price.recurring?.interval ?? 'month';
  if (interval === 'day' || interval === 'week') return start + intervalSeconds(price);
  const months = interval === 'year' ? 12 * count : count;
  const anchorDate = new Date(anchor * 1000);
  const anchorMonth = anchorDate.getUTCFullYear() * 12 + anchorDate.getUTCMonth();
  // The first anchor date (every `months` months from the anchor) after `start`.
  for (let step = months; ; step += months) {
    const monthIndex = anchorMonth + step;
    const year = Math.floor(monthIndex / 12);
    const month = monthIndex % 12;
    const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
    const end =
      Date.UTC(
        year,
        month,
        Math.min(anchorDate.getUTCDate(), lastDay),
        anchorDate.getUTCHours(),
        anchorDate.getUTCMinutes(),
        anchorDate.getUTCSeconds(),
      ) / 1000;
    if (end > start) return end;
  }
}

/** The subscription's current period, from its items (basil) or itself (legacy). */
export function subscriptionPeriod(subscription: FixtureSubscription): {
  start: number;
  end: number;
} {
  const item = subscription.items.data[0] as
    | (Stripe.SubscriptionItem & { current_period_start?: number; current_period_end?: number })
    | undefined;
  const start =
    item?.current_period_start ?? subscription.current_period_start ?? subscription.created;
  const end =
    item?.current_period_end ?? subscription.current_period_end ?? start + 30 * DAY_SECONDS;
  return { start, end };
}

export interface ProrationChange {
  itemId: string;
  oldPrice: Stripe.Price | null;
  oldQuantity: number;
  newPrice: Stripe.Price | null;
  newQuantity: number;
}

/**
 * What a change of subscription items means before it is applied: the new items (checked the
 * way Stripe checks them) and the proration lines for the rest of the period.
 */
export abstract class ProrationsState extends InvoicesState {
  protected recurringPrice(id: string, param: string): Stripe.Price {
    const price = this.getPrice(id, param);
    if (!price.recurring) {
      throw parameterInvalid(
        param,
        `The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`,
      );
    }
    if (!price.active)
      throw parameterInvalid(
        param,
        `The price specified is inactive. This field only accepts active prices.`,
      );
    return price;
  }

  protected productName(price: Stripe.Price): string {
    const product =
      typeof price.product === 'string' ? this.products.get(price.product) : undefined;
    return product?.name ?? price.nickname ?? 'Subscription';
  }

  /** Applies item changes to a copy of the subscription's items; returns the new items and proration changes. */
  protected planItemChanges(
    subscription: FixtureSubscription,
    changes: SubscriptionItemChange[],
  ): { items: Stripe.SubscriptionItem[]; prorations: ProrationChange[] } {
    const items = structuredClone(subscription.items.data);
    const prorations: ProrationChange[] = [];
    const { start, end } = subscriptionPeriod(subscription);
    changes.forEach((change, index) => {
      const param = `items[${index}]`;
      if (change.id) {
        const position = items.findIndex((item) => item.id === change.id);
        const item = items[position];
        if (!item) throw resourceMissing('subscription item', change.id, `${param}[id]`);
        if (change.deleted) {
          items.splice(position, 1);
          prorations.push({
            itemId: item.id,
            oldPrice: item.price,
            oldQuantity: item.quantity ?? 1,
            newPrice: null,
            newQuantity: 0,
          });
          return;
        }
        const oldPrice = item.price;
        const oldQuantity = item.quantity ?? 1;
        if (change.price && change.price !== item.price.id) {
          const price = this.recurringPrice(change.price, `${param}[price]`);
          item.price = structuredClone(price);
          item.plan = planObject(price);
        }
        if (change.quantity !== undefined) item.quantity = change.quantity;
        item.metadata = applyMetadata(item.metadata, change.metadata);
        if (oldPrice.id !== item.price.id || oldQuantity !== item.quantity) {
          prorations.push({
            itemId: item.id,
            oldPrice,
            oldQuantity,
            newPrice: item.price,
            newQuantity: item.quantity ?? 1,
          });
        }
        return;
      }
      if (change.deleted)
        throw invalidRequest('Cannot delete an item without its id.', `${param}[id]`);
      if (!change.price)
        throw invalidRequest(`Missing required param: ${param}[price].`, `${param}[price]`);
      if (items.some((item) => item.price.id === change.price)) {
        throw invalidRequest(
          `Cannot add multiple subscription items with the same price: ${change.price}`,
          `${param}[price]`,
        );
      }
      const price = this.recurringPrice(change.price, `${param}[price]`);
      const item = subscriptionItemObject({
        subscription: subscription.id,
        price,
        quantity: change.quantity ?? 1,
        metadata: applyMetadata({}, change.metadata),
        currentPeriodStart: start,
        currentPeriodEnd: end,
        created: this.now(),
      });
      items.push(item);
      prorations.push({
        itemId: item.id,
        oldPrice: null,
        oldQuantity: 0,
        newPrice: price,
        newQuantity: item.quantity ?? 1,
      });
    });
    if (items.length === 0)
      throw invalidRequest('A subscription must have at least one active item.', 'items');
    return { items, prorations };
  }

  /**
   * Proration lines for a change at `prorationDate`: a credit for the unused part of the old
   * price and a charge for the rest of the period at the new one. A change of billing
   * interval restarts the cycle: the new price is charged in full.
   */
  protected prorationLines(
    subscription: FixtureSubscription,
    changes: ProrationChange[],
    prorationDate: number,
  ): { lines: Json[]; resetPeriod: { start: number; end: number } | null } {
    const { start, end } = subscriptionPeriod(subscription);
    const fraction =
      end > start ? Math.min(1, Math.max(0, (end - prorationDate) / (end - start))) : 0;
    const lines: Json[] = [];
    let resetPeriod: { start: number; end: number } | null = null;
    for (const change of changes) {
      const intervalChanged =
        change.oldPrice !== null &&
        change.newPrice !== null &&
        (change.oldPrice.recurring?.interval !== change.newPrice.recurring?.interval ||
          change.oldPrice.recurring?.interval_count !== change.newPrice.recurring?.interval_count);
      if (change.oldPrice) {
        const amount = -Math.round(
          (change.oldPrice.unit_amount ?? 0) * change.oldQuantity * fraction,
        );
        lines.push(
          invoiceLineObject({
            invoice: '',
            amount,
            price: change.oldPrice,
            quantity: change.oldQuantity,
            subscription: subscription.id,
            subscriptionItem: change.itemId,
            periodStart: prorationDate,
            periodEnd: end,
            proration: true,
            description: `Unused time on ${change.oldQuantity} × ${this.productName(change.oldPrice)}`,
          }),
        );
      }
      if (change.newPrice) {
        const newEnd = intervalChanged ? prorationDate + intervalSeconds(change.newPrice) : end;
        if (intervalChanged) resetPeriod = { start: prorationDate, end: newEnd };
        const share = intervalChanged ? 1 : fraction;
        lines.push(
          invoiceLineObject({
            invoice: '',
            amount: Math.round((change.newPrice.unit_amount ?? 0) * change.newQuantity * share),
            price: change.newPrice,
            quantity: change.newQuantity,
            subscription: subscription.id,
            subscriptionItem: change.itemId,
            periodStart: prorationDate,
            periodEnd: newEnd,
            proration: true,
            description: `Remaining time on ${change.newQuantity} × ${this.productName(change.newPrice)}`,
          }),
        );
      }
    }
    return { lines, resetPeriod };
  }
}
