import { billingPortalRoutes } from './billing-portal.js';
import { checkoutRoutes } from './checkout.js';
import { customerRoutes } from './customers.js';
import { eventRoutes } from './events.js';
import { invoiceRoutes } from './invoices.js';
import { meterEventRoutes } from './meter-events.js';
import { productRoutes } from './products.js';
import { rereadRoutes } from './rereads.js';
import type { Route } from './routing.js';
import { subscriptionRoutes } from './subscriptions.js';

export { expand, type Route } from './routing.js';

/**
 * Every endpoint the fake serves, one file per resource. The first route that matches
 * answers, so within a resource a fixed path (`/v1/customers/search`,
 * `/v1/invoices/create_preview`) comes before the `:id` path that would also match it.
 */
export const routes: Route[] = [
  ...customerRoutes,
  ...productRoutes,
  ...subscriptionRoutes,
  ...invoiceRoutes,
  ...checkoutRoutes,
  ...billingPortalRoutes,
  ...eventRoutes,
  ...meterEventRoutes,
  ...rereadRoutes,
];
