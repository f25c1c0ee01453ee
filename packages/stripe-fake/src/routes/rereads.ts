import { listParams, requiredStr } from '../params.js';
import { paginate, type Route, route } from './routing.js';

/**
 * The objects a webhook consumer re-reads by id and the fake otherwise only sends in events:
 * plans, invoice payments, subscription schedules, active entitlements.
 */
export const rereadRoutes: Route[] = [
  route('GET', '/v1/plans/:id', ({ path, state }) => state.getPlan(path.id!)),
  route('GET', '/v1/invoice_payments/:id', ({ path, state }) => state.getInvoicePayment(path.id!)),
  route('GET', '/v1/subscription_schedules/:id', ({ path, state }) =>
    state.getSubscriptionSchedule(path.id!),
  ),
  route('GET', '/v1/entitlements/active_entitlements/:id', ({ path, state }) =>
    state.getActiveEntitlement(path.id!),
  ),
  route('GET', '/v1/entitlements/active_entitlements', ({ params, state }) => {
    const customer = requiredStr(params, 'customer');
    return paginate(
      state,
      state.activeEntitlementsOf(customer),
      () => true,
      listParams(params),
      '/v1/entitlements/active_entitlements',
      'entitlements.active_entitlement',
    );
  }),
];
