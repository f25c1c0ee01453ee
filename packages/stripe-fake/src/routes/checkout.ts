import { invalidRequest, parameterMissing } from '../errors.js';
import { int, newMetadata, object, objectList, oneOf, str } from '../params.js';
import { type Route, route } from './routing.js';

/** `/v1/checkout/sessions`: create, retrieve. */
export const checkoutRoutes: Route[] = [
  route('POST', '/v1/checkout/sessions', ({ params, state }) => {
    const mode = oneOf(params, 'mode', ['payment', 'setup', 'subscription'] as const);
    if (!mode) throw parameterMissing('mode');
    const lineItems = (objectList(params, 'line_items') ?? []).map((item, index) => {
      const price = str(item, 'price');
      if (!price) throw parameterMissing(`line_items[${index}][price]`);
      return { price, quantity: int(item, 'quantity', { min: 1 }) ?? 1 };
    });
    if (mode !== 'setup' && lineItems.length === 0) throw parameterMissing('line_items');
    const subscriptionData = object(params, 'subscription_data');
    const customer = str(params, 'customer') || undefined;
    const customerEmail = str(params, 'customer_email') || undefined;
    if (customer && customerEmail) {
      throw invalidRequest(
        'You may only specify one of these parameters: customer, customer_email.',
      );
    }
    return state.createCheckoutSession({
      mode,
      customer,
      customerEmail,
      clientReferenceId: str(params, 'client_reference_id') || undefined,
      lineItems,
      successUrl: str(params, 'success_url'),
      cancelUrl: str(params, 'cancel_url'),
      metadata: newMetadata(params),
      subscriptionMetadata: subscriptionData ? newMetadata(subscriptionData) : undefined,
    });
  }),
  route('GET', '/v1/checkout/sessions/:id', ({ path, state }) =>
    state.getCheckoutSession(path.id!),
  ),
];
