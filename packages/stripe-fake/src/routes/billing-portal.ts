import { createBillingPortalSession } from '../billing-portal.js';
import { type Route, route } from './routing.js';

/** `/v1/billing_portal/sessions`: create (the customer portal a past-due customer fixes a card in). */
export const billingPortalRoutes: Route[] = [
  route('POST', '/v1/billing_portal/sessions', ({ params, state }) =>
    createBillingPortalSession(state, params),
  ),
];
