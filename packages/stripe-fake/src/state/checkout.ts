import type { Stripe } from '@billing/stripe';
import { invalidRequest, parameterInvalid, resourceMissing } from '../errors.js';
import { checkoutSessionObject } from '../factories.js';
import { BillingCycleState } from './billing-cycle.js';
import type { ChangeContext, CheckoutSessionInput } from './types.js';

/** Checkout sessions, and the customer paying on the hosted page. */
export abstract class CheckoutState extends BillingCycleState {
  /** Creating a session changes no account state, so (as at Stripe) it emits no event. */
  createCheckoutSession(input: CheckoutSessionInput): Stripe.Checkout.Session {
    if (input.customer) this.getCustomer(input.customer, 'customer');
    const prices = input.lineItems.map((item, index) => {
      const price = this.getPrice(item.price, `line_items[${index}][price]`);
      if (input.mode === 'subscription' && !price.recurring) {
        throw parameterInvalid(
          `line_items[${index}][price]`,
          'You must provide at least one recurring price in `subscription` mode when using prices.',
        );
      }
      return price;
    });
    const amount = prices.reduce(
      (sum, price, index) => sum + (price.unit_amount ?? 0) * input.lineItems[index]!.quantity,
      0,
    );
    const session = checkoutSessionObject({
      customer: input.customer ?? null,
      mode: input.mode,
      clientReferenceId: input.clientReferenceId ?? null,
      metadata: input.metadata ?? {},
      successUrl: input.successUrl,
      cancelUrl: input.cancelUrl,
      amountTotal: amount,
      currency: prices[0]?.currency ?? 'usd',
      created: this.now(),
    });
    if (this.checkoutUrl) session.url = this.checkoutUrl(session.id);
    session.customer_email = input.customerEmail ?? null;
    session.customer_details = input.customerEmail
      ? {
          ...(session.customer_details as Stripe.Checkout.Session.CustomerDetails),
          email: input.customerEmail,
        }
      : null;
    this.store(this.checkoutSessions, session);
    this.checkoutInputs.set(session.id, structuredClone(input));
    return session;
  }

  /** What the session was created with (line items, …), for the hosted page. */
  checkoutInput(id: string): CheckoutSessionInput | undefined {
    const input = this.checkoutInputs.get(id);
    return input ? structuredClone(input) : undefined;
  }

  getCheckoutSession(id: string): Stripe.Checkout.Session {
    const session = this.checkoutSessions.get(id);
    if (!session) throw resourceMissing('checkout.session', id);
    return session;
  }

  /**
   * What happens when the customer pays on the hosted page: the customer (if new) and the
   * subscription are created, the session completes, `checkout.session.completed` is emitted.
   */
  completeCheckoutSession(id: string, context?: ChangeContext): Stripe.Checkout.Session {
    const session = this.getCheckoutSession(id);
    const input = this.checkoutInputs.get(id);
    if (session.status !== 'open' || !input)
      throw invalidRequest(`Checkout session ${id} is not open.`);
    const customer =
      input.customer ??
      this.createCustomer(
        { email: input.customerEmail ?? null, userId: input.clientReferenceId },
        context,
      ).id;
    session.customer = customer;
    if (input.mode === 'subscription') {
      const subscription = this.createSubscription(
        {
          customer,
          items: input.lineItems,
          metadata: input.subscriptionMetadata ?? {},
          initialStatus: 'incomplete',
          // The card was just entered on the hosted page and accepted.
          paymentFails: false,
        },
        context,
      );
      session.subscription = subscription.id;
      session.invoice =
        typeof subscription.latest_invoice === 'string' ? subscription.latest_invoice : null;
    }
    session.status = 'complete';
    session.payment_status = 'paid';
    session.url = null;
    this.emit('checkout.session.completed', session, undefined, context);
    return session;
  }
}
