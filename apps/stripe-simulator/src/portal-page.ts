import type { Stripe } from '@billing/stripe';
import type { FakeStripeState } from '@billing/stripe-fake';
import { escapeHtml, formatAmount, page } from './checkout-page.js';

/**
 * The simulator's stand-in for Stripe's customer portal: the customer's subscriptions and
 * open invoices, an "Update card" form with a test card that always works (a plain form
 * POST, no script) and a link back to the session's return URL. Updating the card makes
 * later charges succeed and pays the open invoices, as Stripe does when a past-due customer
 * adds a working card in the portal.
 */

const isOpen = (invoice: Stripe.Invoice | undefined): invoice is Stripe.Invoice =>
  invoice?.status === 'open';

/** The customer's open invoices (what a new card will pay), oldest first. */
export function openInvoices(state: FakeStripeState, customerId: string): Stripe.Invoice[] {
  return state
    .sorted([...state.invoices.values()].filter((i) => i.customer === customerId))
    .filter(isOpen)
    .reverse();
}

export function portalPage(
  state: FakeStripeState,
  session: Stripe.BillingPortal.Session,
  notice?: string,
): string {
  const customer = state.customers.get(session.customer);
  const subscriptions = state
    .sorted([...state.subscriptions.values()].filter((s) => s.customer === session.customer))
    .map((subscription) => {
      const price = subscription.items.data[0]?.price;
      const product =
        price && typeof price.product === 'string' ? state.products.get(price.product) : undefined;
      return `<li data-testid="portal-subscription" data-status="${escapeHtml(subscription.status)}">${escapeHtml(product?.name ?? price?.id ?? subscription.id)} · ${escapeHtml(subscription.status.replace(/_/g, ' '))}</li>`;
    });
  const invoices = openInvoices(state, session.customer).map(
    (invoice) =>
      `<li data-testid="portal-open-invoice">${escapeHtml(formatAmount(invoice.amount_remaining, invoice.currency))} due (${escapeHtml(invoice.id)})</li>`,
  );
  const back = session.return_url
    ? `<p><a href="${escapeHtml(session.return_url)}" data-testid="portal-return">Return to the app</a></p>`
    : '';
  return page(
    'Billing portal',
    `<span class="badge">Stripe simulator · customer portal</span>
<h1>${escapeHtml(customer?.email ?? session.customer)}</h1>
${notice ? `<p data-testid="portal-notice">${escapeHtml(notice)}</p>` : ''}
<p class="muted">Subscriptions</p>
<ul>${subscriptions.join('') || '<li>none</li>'}</ul>
<p class="muted">Open invoices</p>
<ul>${invoices.join('') || '<li data-testid="portal-no-open-invoice">none</li>'}</ul>
<form method="post" action="/billing-portal/${encodeURIComponent(session.id)}/payment-method">
  <label>New card (test) <input name="card" value="4242 4242 4242 4242" readonly></label>
  <button type="submit" data-testid="portal-update-card">Update card${invoices.length > 0 ? ' and pay' : ''}</button>
</form>
${back}`,
  );
}

export function portalNotFoundPage(id: string): string {
  return page(
    'Not found',
    `<span class="badge">Stripe simulator</span><h1>No such billing portal session: ${escapeHtml(id)}</h1>`,
  );
}
