import type { Stripe } from '@billing/stripe';
import { parameterInvalid } from './errors.js';
import { stripeId } from './ids.js';
import { type Params, requiredStr, str } from './params.js';
import type { FakeStripeState } from './state.js';

/**
 * Customer portal sessions (`POST /v1/billing_portal/sessions`): the link a customer follows
 * to update their card and see their invoices. A session is a short-lived link, not account
 * state that other objects refer to, so sessions live beside the state (one store per state
 * object) and are neither snapshotted nor persisted, as Stripe's expire within minutes.
 */

export interface BillingPortalStore {
  readonly sessions: Map<string, Stripe.BillingPortal.Session>;
  /**
   * Where a session's `url` points. Default: Stripe's own form
   * (`https://billing.stripe.com/p/session/test_…`); the simulator points it at its hosted page.
   */
  hostedAt: ((sessionId: string) => string) | undefined;
}

const stores = new WeakMap<FakeStripeState, BillingPortalStore>();

/** The portal sessions of one fake account. */
export function billingPortal(state: FakeStripeState): BillingPortalStore {
  let store = stores.get(state);
  if (!store) {
    store = { sessions: new Map(), hostedAt: undefined };
    stores.set(state, store);
  }
  return store;
}

const LOCALES = /^(auto|[a-z]{2}(-[A-Z]{2})?)$/;

/** `POST /v1/billing_portal/sessions`: `customer` required (must exist), `return_url` optional. */
export function createBillingPortalSession(
  state: FakeStripeState,
  params: Params,
): Stripe.BillingPortal.Session {
  const customer = requiredStr(params, 'customer');
  state.getCustomer(customer, 'customer');
  const returnUrl = str(params, 'return_url');
  if (returnUrl !== undefined && !/^https?:\/\/\S+$/.test(returnUrl)) {
    throw parameterInvalid('return_url', 'Not a valid URL', 'url_invalid');
  }
  const locale = str(params, 'locale');
  if (locale !== undefined && !LOCALES.test(locale)) {
    throw parameterInvalid('locale', `Invalid locale: ${locale}`);
  }
  const store = billingPortal(state);
  const id = stripeId('bps');
  const session = {
    id,
    object: 'billing_portal.session',
    configuration: 'bpc_simulator_default',
    created: state.now(),
    customer,
    customer_account: null,
    flow: null,
    livemode: false,
    locale: locale ?? null,
    on_behalf_of: null,
    return_url: returnUrl ?? null,
    url: store.hostedAt
      ? store.hostedAt(id)
      : `https://billing.stripe.com/p/session/test_${stripeId('x', 40).slice(2)}`,
  } as Stripe.BillingPortal.Session;
  store.sessions.set(id, session);
  return session;
}
