import type { Stripe } from '@billing/stripe';
import type { FakeStripeState } from '@billing/stripe-fake';

/**
 * The simulator's stand-in for Stripe's hosted Checkout page: what is being bought, a test
 * card that always works, a Pay button (a plain form POST, no script) and a link back to the
 * cancel URL. Paying completes the session and redirects to its success URL.
 */

export const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

export const formatAmount = (amount: number, currency: string): string =>
  new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() }).format(
    amount / 100,
  );

/** Stripe replaces `{CHECKOUT_SESSION_ID}` in the success URL with the session id. */
export const successRedirect = (session: Stripe.Checkout.Session): string =>
  (session.success_url ?? '/').replaceAll('{CHECKOUT_SESSION_ID}', session.id);

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; background: #f6f9fc; color: #1a1f36; margin: 0; }
  main { max-width: 420px; margin: 48px auto; background: #fff; border-radius: 12px;
         box-shadow: 0 4px 24px rgba(0,0,0,.08); padding: 32px; }
  .badge { display: inline-block; font-size: 12px; background: #ffde92; color: #5b3c00;
           border-radius: 4px; padding: 2px 6px; margin-bottom: 12px; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .amount { font-size: 32px; font-weight: 600; margin: 8px 0 24px; }
  label { display: block; font-size: 14px; color: #697386; margin-top: 12px; }
  input { width: 100%; box-sizing: border-box; padding: 10px; border: 1px solid #e3e8ee;
          border-radius: 6px; font-size: 16px; background: #fafbfc; }
  button { width: 100%; margin-top: 24px; padding: 12px; border: 0; border-radius: 6px;
           background: #635bff; color: #fff; font-size: 16px; font-weight: 600; cursor: pointer; }
  a { color: #635bff; }
  .muted { color: #697386; font-size: 14px; }
`;

/** A hosted page of the simulator (checkout, customer portal): one card, Stripe-like. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body><main>${body}</main></body>
</html>`;
}

export function checkoutPage(state: FakeStripeState, session: Stripe.Checkout.Session): string {
  if (session.status !== 'open') {
    const back = successRedirect(session);
    return page(
      'Checkout complete',
      `<span class="badge">Stripe simulator</span>
<h1>This checkout session is ${escapeHtml(session.status ?? 'closed')}.</h1>
<p><a href="${escapeHtml(back)}" data-testid="checkout-return">Return to the app</a></p>`,
    );
  }
  const input = state.checkoutInput(session.id);
  const lines = (input?.lineItems ?? []).map((item) => {
    const price = state.prices.get(item.price);
    const product =
      price && typeof price.product === 'string' ? state.products.get(price.product) : undefined;
    const interval = price?.recurring ? ` / ${price.recurring.interval}` : '';
    const amount = price
      ? formatAmount((price.unit_amount ?? 0) * item.quantity, price.currency)
      : '';
    return { name: product?.name ?? price?.nickname ?? item.price, amount, interval };
  });
  const total = formatAmount(session.amount_total ?? 0, session.currency ?? 'usd');
  const first = lines[0];
  const customer =
    typeof session.customer === 'string' ? state.customers.get(session.customer) : undefined;
  const email = customer?.email ?? session.customer_email ?? 'customer@example.com';
  return page(
    `Pay ${total}`,
    `<span class="badge">Stripe simulator · test mode</span>
<h1 data-testid="checkout-product">Subscribe to ${escapeHtml(first?.name ?? 'a plan')}</h1>
<div class="amount" data-testid="checkout-amount">${escapeHtml(first?.amount ?? total)}<span class="muted">${escapeHtml(first?.interval ?? '')}</span></div>
<form method="post" action="/checkout/${encodeURIComponent(session.id)}/pay">
  <label>Email <input name="email" value="${escapeHtml(email)}" readonly></label>
  <label>Card (test) <input name="card" value="4242 4242 4242 4242" readonly></label>
  <button type="submit" data-testid="checkout-pay">Pay ${escapeHtml(total)}</button>
</form>
<p class="muted">No money moves: the simulator completes the session and sends the webhooks
Stripe would send. <a href="${escapeHtml(session.cancel_url ?? '/')}">Cancel</a></p>`,
  );
}

export function notFoundPage(id: string): string {
  return page(
    'Not found',
    `<span class="badge">Stripe simulator</span><h1>No such checkout session: ${escapeHtml(id)}</h1>`,
  );
}
