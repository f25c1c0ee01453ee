import { int, listParams, object, objectList, oneOf, rangeFilter, str } from '../params.js';
import { paginate, type Route, route } from './routing.js';
import { itemChanges } from './subscriptions.js';

/** `/v1/invoices`: `create_preview`, pay, retrieve, list. */
export const invoiceRoutes: Route[] = [
  route('POST', '/v1/invoices/create_preview', ({ params, state }) => {
    const details = object(params, 'subscription_details') ?? {};
    return state.previewInvoice({
      customer: str(params, 'customer') || undefined,
      subscription: str(params, 'subscription') || undefined,
      items: itemChanges(objectList(details, 'items'), 'subscription_details[items]'),
      prorationDate: int(details, 'proration_date'),
      prorationBehavior: oneOf(details, 'proration_behavior', [
        'create_prorations',
        'none',
        'always_invoice',
      ] as const),
    });
  }),
  route('POST', '/v1/invoices/:id/pay', ({ path, state, change }) =>
    state.payInvoice(path.id!, {}, change),
  ),
  route('GET', '/v1/invoices/:id', ({ path, state }) => state.getInvoice(path.id!)),
  route('GET', '/v1/invoices', ({ params, state }) => {
    const customer = str(params, 'customer');
    const subscription = str(params, 'subscription');
    const status = oneOf(params, 'status', [
      'draft',
      'open',
      'paid',
      'uncollectible',
      'void',
    ] as const);
    const created = rangeFilter(params, 'created');
    return paginate(
      state,
      state.invoices.values(),
      (invoice) =>
        (customer === undefined || invoice.customer === customer) &&
        (subscription === undefined ||
          invoice.parent?.subscription_details?.subscription === subscription) &&
        (status === undefined || invoice.status === status) &&
        (!created || created(invoice.created)),
      listParams(params),
      '/v1/invoices',
      'invoice',
    );
  }),
];
