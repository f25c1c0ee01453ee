import type { Stripe } from '@billing/stripe';
import { invalidRequest, resourceMissing, StripeApiError } from '../errors.js';
import { invoiceObject, invoicePaymentObject } from '../factories.js';
import { DAY_SECONDS, stripeId } from '../ids.js';
import { previousAttributes } from './base.js';
import { ProductsState } from './products.js';
import type { ChangeContext, Json, Ordered } from './types.js';

/**
 * Invoices: issued finalized and charged at once (or left open when the card declines),
 * paid again later, and the customer card switch that makes charges decline.
 */
export abstract class InvoicesState extends ProductsState {
  getInvoice(id: string, param?: string): Stripe.Invoice {
    const invoice = this.invoices.get(id);
    if (!invoice) throw resourceMissing('invoice', id, param);
    return invoice;
  }

  /**
   * Creates an invoice with these lines, finalizes it and charges the customer's card:
   * emits created → finalized → paid → payment_succeeded, or, when the card declines
   * (`setCardDeclines`, or `paymentFails`), created → finalized → payment_failed and the
   * invoice stays open.
   */
  issueInvoice(
    input: {
      /** Pre-assigned id (to reference the invoice before its events). */
      id?: string;
      customer: string;
      subscription?: string | null;
      lines: Json[];
      billingReason: Stripe.Invoice.BillingReason;
      periodStart: number;
      periodEnd: number;
      paymentFails?: boolean;
    },
    context?: ChangeContext,
  ): Stripe.Invoice {
    const id = input.id ?? stripeId('in');
    for (const line of input.lines) line.invoice = id;
    const total = input.lines.reduce((sum, line) => sum + Number(line.amount ?? 0), 0);
    const invoice = invoiceObject({
      id,
      customer: input.customer,
      subscription: input.subscription ?? null,
      status: 'paid',
      lines: input.lines,
      amountDue: Math.max(0, total),
      amountPaid: Math.max(0, total),
      billingReason: input.billingReason,
      periodStart: input.periodStart,
      periodEnd: input.periodEnd,
      created: this.now(),
    });
    invoice.total = total;
    invoice.subtotal = total;
    this.store(this.invoices, invoice);
    const paid = structuredClone(invoice);
    invoice.status = 'draft';
    invoice.status_transitions = {
      ...invoice.status_transitions,
      finalized_at: null,
      paid_at: null,
    };
    invoice.amount_paid = 0;
    invoice.amount_remaining = paid.amount_due;
    invoice.attempted = false;
    invoice.attempt_count = 0;
    this.emit('invoice.created', invoice, undefined, context);
    invoice.status = 'open';
    invoice.status_transitions = { ...invoice.status_transitions, finalized_at: paid.created };
    this.emit('invoice.finalized', invoice, { status: 'draft' }, context);
    const fails =
      paid.amount_due > 0 && (input.paymentFails ?? this.decliningCustomers.has(input.customer));
    if (fails) {
      this.failPayment(invoice, context);
      return invoice;
    }
    Object.assign(invoice, paid);
    this.recordPayment(invoice);
    this.emit(
      'invoice.paid',
      invoice,
      { status: 'open', amount_paid: 0, amount_remaining: paid.amount_due },
      context,
    );
    this.emit('invoice.payment_succeeded', invoice, undefined, context);
    return invoice;
  }

  /** The invoice payment Stripe keeps for a paid invoice (re-read by id). */
  protected recordPayment(invoice: Stripe.Invoice): void {
    if (invoice.amount_paid <= 0) return;
    this.store(
      this.invoicePayments,
      invoicePaymentObject({
        invoice: invoice.id,
        amount: invoice.amount_paid,
        currency: invoice.currency,
        created: this.now(),
      }) as Stripe.InvoicePayment & Ordered,
    );
  }

  getInvoicePayment(id: string): Stripe.InvoicePayment {
    const payment = this.invoicePayments.get(id);
    if (!payment) throw resourceMissing('invoice_payment', id);
    return payment;
  }

  /** A declined charge on an open invoice: `invoice.payment_failed`, next attempt in 3 days. */
  protected failPayment(invoice: Stripe.Invoice, context?: ChangeContext): void {
    const now = this.now();
    invoice.status = 'open';
    invoice.attempted = true;
    invoice.attempt_count = (invoice.attempt_count ?? 0) + 1;
    invoice.amount_paid = 0;
    invoice.amount_remaining = invoice.amount_due;
    invoice.next_payment_attempt = now + 3 * DAY_SECONDS;
    invoice.status_transitions = { ...invoice.status_transitions, paid_at: null };
    this.emit('invoice.payment_failed', invoice, undefined, context);
  }

  /** Makes every later charge to this customer's card decline (`true`) or succeed again. */
  setCardDeclines(customerId: string, declines: boolean): void {
    this.getCustomer(customerId, 'customer');
    if (declines) this.decliningCustomers.add(customerId);
    else this.decliningCustomers.delete(customerId);
  }

  cardDeclines(customerId: string): boolean {
    return this.decliningCustomers.has(customerId);
  }

  /** Proration lines waiting for the subscription's next invoice. */
  pendingLines(subscriptionId: string): readonly Json[] {
    return this.pendingInvoiceLines.get(subscriptionId) ?? [];
  }

  /**
   * `POST /v1/invoices/:id/pay`: charges an open invoice again (Stripe's retry, or the
   * customer fixing their card). Paid: `invoice.paid`, `invoice.payment_succeeded`, and a
   * past_due (or incomplete) subscription billed by it becomes active again
   * (`customer.subscription.updated`). Declined: `invoice.payment_failed`, and the call
   * answers 402 `card_declined`, as Stripe does.
   */
  payInvoice(
    id: string,
    options: { paymentFails?: boolean } = {},
    context?: ChangeContext,
  ): Stripe.Invoice {
    const invoice = this.getInvoice(id);
    if (invoice.status === 'paid') throw invalidRequest('Invoice is already paid.');
    if (invoice.status !== 'open') {
      throw invalidRequest(`You can only pay an open invoice; this one is ${invoice.status}.`);
    }
    const customer = String(invoice.customer);
    if (options.paymentFails ?? this.decliningCustomers.has(customer)) {
      this.failPayment(invoice, context);
      throw new StripeApiError(402, 'card_error', 'Your card was declined.', 'card_declined');
    }
    const now = this.now();
    const before = structuredClone(invoice) as unknown as Json;
    invoice.status = 'paid';
    invoice.attempted = true;
    invoice.attempt_count = Math.max(1, invoice.attempt_count ?? 0);
    invoice.amount_paid = invoice.amount_due;
    invoice.amount_remaining = 0;
    invoice.next_payment_attempt = null;
    invoice.status_transitions = { ...invoice.status_transitions, paid_at: now };
    this.recordPayment(invoice);
    const previous = previousAttributes(before, invoice as unknown as Json);
    this.emit(
      'invoice.paid',
      invoice,
      {
        status: previous.status,
        amount_paid: previous.amount_paid,
        amount_remaining: previous.amount_remaining,
      },
      context,
    );
    this.emit('invoice.payment_succeeded', invoice, undefined, context);
    const subscriptionId = invoice.parent?.subscription_details?.subscription;
    const subscription =
      typeof subscriptionId === 'string' ? this.subscriptions.get(subscriptionId) : undefined;
    if (
      subscription &&
      subscription.latest_invoice === invoice.id &&
      ['past_due', 'unpaid', 'incomplete'].includes(subscription.status)
    ) {
      const status = subscription.status;
      subscription.status =
        subscription.trial_end && subscription.trial_end > now ? 'trialing' : 'active';
      this.emit('customer.subscription.updated', subscription, { status }, context);
    }
    return invoice;
  }

  /** Adds an invoice built elsewhere (factories), without events. */
  seedInvoice(invoice: Stripe.Invoice): Stripe.Invoice {
    return this.store(this.invoices, invoice as Stripe.Invoice & Ordered);
  }
}
