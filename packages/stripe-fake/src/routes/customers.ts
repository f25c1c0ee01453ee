import type { Stripe } from '@billing/stripe';
import { invalidRequest } from '../errors.js';
import {
  int,
  listParams,
  metadata,
  newMetadata,
  nullableStr,
  rangeFilter,
  requiredStr,
  str,
} from '../params.js';
import { paginate, type Route, route } from './routing.js';

// ---------------------------------------------------------------------------------------
// Customer search: `email:'a@b.c' AND metadata['user_id']:'42'` (exact `:` and substring `~`).

function customerSearch(query: string): (customer: Stripe.Customer) => boolean {
  const clauses = query.split(/\s+AND\s+/i).map((clause) => {
    const match =
      /^\s*(email|name|phone|description|metadata\[['"]([^'"]+)['"]\])\s*([:~])\s*['"](.*)['"]\s*$/.exec(
        clause,
      );
    if (!match) throw invalidRequest(`Invalid query: could not parse \`${clause}\`.`, 'query');
    const [, field, metadataKey, operator, value] = match;
    return (customer: Stripe.Customer) => {
      const raw = metadataKey
        ? customer.metadata[metadataKey]
        : (customer as unknown as Record<string, unknown>)[field as string];
      if (typeof raw !== 'string') return false;
      return operator === ':'
        ? raw === value
        : raw.toLowerCase().includes((value ?? '').toLowerCase());
    };
  });
  return (customer) => clauses.every((clause) => clause(customer));
}

/** `/v1/customers`: create, search, retrieve, update, delete, list. */
export const customerRoutes: Route[] = [
  route('POST', '/v1/customers', ({ params, state, change }) =>
    state.createCustomer(
      {
        email: nullableStr(params, 'email') ?? null,
        name: nullableStr(params, 'name') ?? null,
        description: nullableStr(params, 'description') ?? null,
        phone: nullableStr(params, 'phone') ?? null,
        metadata: newMetadata(params),
      },
      change,
    ),
  ),
  route('GET', '/v1/customers/search', ({ params, state }) => {
    const query = requiredStr(params, 'query');
    const limit = int(params, 'limit', { min: 1, max: 100 }) ?? 10;
    const page = str(params, 'page');
    let offset = 0;
    if (page) {
      offset = Number(Buffer.from(page, 'base64url').toString('utf8'));
      if (!Number.isInteger(offset) || offset < 0)
        throw invalidRequest('Invalid page token.', 'page');
    }
    const matches = state.sorted([...state.customers.values()].filter(customerSearch(query)));
    const data = matches.slice(offset, offset + limit);
    const more = offset + limit < matches.length;
    return {
      object: 'search_result',
      data,
      has_more: more,
      next_page: more ? Buffer.from(String(offset + limit)).toString('base64url') : null,
      url: '/v1/customers/search',
    };
  }),
  route('GET', '/v1/customers/:id', ({ path, state }) =>
    state.deletedCustomers.has(path.id!)
      ? { id: path.id!, object: 'customer', deleted: true }
      : state.getCustomer(path.id!),
  ),
  route('POST', '/v1/customers/:id', ({ path, params, state, change }) =>
    state.updateCustomer(
      path.id!,
      {
        email: nullableStr(params, 'email'),
        name: nullableStr(params, 'name'),
        description: nullableStr(params, 'description'),
        phone: nullableStr(params, 'phone'),
        metadata: metadata(params),
      },
      change,
    ),
  ),
  route('DELETE', '/v1/customers/:id', ({ path, state, change }) =>
    state.deleteCustomer(path.id!, change),
  ),
  route('GET', '/v1/customers', ({ params, state }) => {
    const email = str(params, 'email');
    const created = rangeFilter(params, 'created');
    return paginate(
      state,
      state.customers.values(),
      (customer) =>
        (email === undefined || customer.email === email) &&
        (!created || created(customer.created)),
      listParams(params),
      '/v1/customers',
      'customer',
    );
  }),
];
