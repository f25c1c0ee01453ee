import type { Stripe } from '@billing/stripe';
import { fixture } from '../fixtures.js';
import { DAY_SECONDS, nowSeconds, stripeId } from '../ids.js';
import {
  type ApiShape,
  type DeepPartial,
  deepMerge,
  type Json,
  type Metadata,
  periodLength,
} from './base.js';

export interface InvoiceOptions {
  id?: string;
  customer?: string;
  /** The subscription this invoice bills (parent.subscription_details; legacy: top-level too). */
  subscription?: string | null;
  status?: Stripe.Invoice.Status;
  /** Minor units. Default: the line amounts, or 2000. */
  amountDue?: number;
  amountPaid?: number;
  currency?: string;
  billingReason?: Stripe.Invoice.BillingReason;
  periodStart?: number;
  periodEnd?: number;
  /** The price billed on the single default line. */
  price?: Stripe.Price;
  subscriptionItem?: string;
  lines?: Json[];
  metadata?: Metadata;
  created?: number;
  apiShape?: ApiShape;
  overrides?: DeepPartial<Stripe.Invoice>;
}

export interface InvoiceLineOptions {
  invoice: string;
  amount: number;
  currency?: string;
  price?: Stripe.Price;
  subscription?: string | null;
  subscriptionItem?: string | null;
  periodStart: number;
  periodEnd: number;
  quantity?: number;
  proration?: boolean;
  description?: string;
}

/** One `line_item` of an invoice, billed either for a subscription item or a one-off item. */
export function invoiceLineObject(options: InvoiceLineOptions): Json {
  const template = fixture<{ lines: { data: Json[] } }>('invoice').lines.data[0] ?? {};
  const fromSubscription = Boolean(options.subscriptionItem);
  const proration = options.proration ?? false;
  return Object.assign(template, {
    id: stripeId('il'),
    invoice: options.invoice,
    amount: options.amount,
    subtotal: options.amount,
    currency: options.currency ?? options.price?.currency ?? 'usd',
    description:
      options.description ??
      (options.price
        ? `${options.quantity ?? 1} × ${options.price.nickname ?? 'Subscription'}`
        : 'Invoice item'),
    period: { start: options.periodStart, end: options.periodEnd },
    quantity: options.quantity ?? 1,
    metadata: {},
    discount_amounts: [],
    discounts: [],
    subscription: options.subscription ?? null,
    parent: fromSubscription
      ? {
          type: 'subscription_item_details',
          invoice_item_details: null,
          subscription_item_details: {
            invoice_item: null,
            proration,
            proration_details: { credited_items: null },
            subscription: options.subscription ?? null,
            subscription_item: options.subscriptionItem,
          },
        }
      : {
          type: 'invoice_item_details',
          subscription_item_details: null,
          invoice_item_details: {
            invoice_item: stripeId('ii'),
            proration,
            proration_details: { credited_items: null },
            subscription: options.subscription ?? null,
          },
        },
    pricing: options.price
      ? {
          type: 'price_details',
          price_details: { price: options.price.id, product: String(options.price.product) },
          unit_amount_decimal: options.price.unit_amount_decimal ?? null,
        }
      : { type: 'price_details', unit_amount_decimal: null },
  });
}

export function invoiceObject(options: InvoiceOptions = {}): Stripe.Invoice {
  const invoice = fixture<Json>('invoice');
  const id = options.id ?? stripeId('in');
  const created = options.created ?? nowSeconds();
  const periodStart = options.periodStart ?? created;
  const periodEnd = options.periodEnd ?? periodStart + periodLength('month');
  const subscription = options.subscription ?? null;
  const currency = options.currency ?? options.price?.currency ?? 'usd';
  const lines = options.lines ?? [
    invoiceLineObject({
      invoice: id,
      amount: options.amountDue ?? options.price?.unit_amount ?? 2000,
      currency,
      price: options.price,
      subscription,
      subscriptionItem: subscription ? (options.subscriptionItem ?? stripeId('si')) : null,
      periodStart,
      periodEnd,
    }),
  ];
  const total =
    options.amountDue ?? lines.reduce((sum, line) => sum + (Number(line.amount) || 0), 0);
  const status = options.status ?? 'paid';
  const amountPaid = options.amountPaid ?? (status === 'paid' ? total : 0);
  Object.assign(invoice, {
    id,
    customer: options.customer ?? stripeId('cus'),
    status,
    currency,
    created,
    period_start: periodStart,
    period_end: periodEnd,
    effective_at: status === 'draft' ? null : created,
    due_date: null,
    next_payment_attempt: status === 'open' ? created + 3 * DAY_SECONDS : null,
    webhooks_delivered_at: created,
    amount_due: total,
    amount_paid: amountPaid,
    amount_remaining: Math.max(0, total - amountPaid),
    amount_overpaid: 0,
    subtotal: total,
    subtotal_excluding_tax: total,
    total,
    total_excluding_tax: total,
    attempted: status !== 'draft',
    attempt_count: status === 'draft' ? 0 : 1,
    billing_reason: options.billingReason ?? (subscription ? 'subscription_cycle' : 'manual'),
    number: status === 'draft' ? null : `${id.slice(3, 11).toUpperCase()}-0001`,
    hosted_invoice_url: status === 'draft' ? null : `https://invoice.stripe.com/i/${id}`,
    invoice_pdf: status === 'draft' ? null : `https://pay.stripe.com/invoice/${id}/pdf`,
    metadata: options.metadata ?? {},
    lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
    status_transitions: {
      finalized_at: status === 'draft' ? null : created,
      marked_uncollectible_at: status === 'uncollectible' ? created : null,
      paid_at: status === 'paid' ? created : null,
      voided_at: status === 'void' ? created : null,
    },
    parent: subscription
      ? {
          type: 'subscription_details',
          quote_details: null,
          subscription_details: { metadata: null, subscription },
        }
      : null,
    from_invoice: null,
    last_finalization_error: null,
    shipping_cost: null,
    discounts: [],
    livemode: false,
  });
  if ((options.apiShape ?? 'basil') === 'legacy') invoice.subscription = subscription;
  else delete invoice.subscription;
  return deepMerge(invoice, options.overrides) as unknown as Stripe.Invoice;
}

export interface InvoicePaymentOptions {
  id?: string;
  invoice?: string;
  amount?: number;
  currency?: string;
  status?: 'paid' | 'open' | 'canceled';
  paymentIntent?: string;
  created?: number;
  overrides?: DeepPartial<Stripe.InvoicePayment>;
}

export function invoicePaymentObject(options: InvoicePaymentOptions = {}): Stripe.InvoicePayment {
  const payment = fixture<Json>('invoice_payment');
  const created = options.created ?? nowSeconds();
  const status = options.status ?? 'paid';
  const amount = options.amount ?? 2000;
  Object.assign(payment, {
    id: options.id ?? stripeId('inpay'),
    invoice: options.invoice ?? stripeId('in'),
    amount_requested: amount,
    amount_paid: status === 'paid' ? amount : null,
    currency: options.currency ?? 'usd',
    created,
    is_default: true,
    livemode: false,
    status,
    payment: { type: 'payment_intent', payment_intent: options.paymentIntent ?? stripeId('pi') },
    status_transitions: {
      canceled_at: status === 'canceled' ? created : null,
      paid_at: status === 'paid' ? created : null,
    },
  });
  return deepMerge(payment, options.overrides) as unknown as Stripe.InvoicePayment;
}
