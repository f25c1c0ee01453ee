import { objectIdOf, syncCustomer } from '@billing/sync';
import type { EventHandler } from './types.js';

/** `customer.*`: the customer row and, through `metadata.user_id`, its app user. */
const customer: EventHandler = {
  family: 'customer',
  customerToLock: (object) => objectIdOf(object) ?? null,
  apply: (ctx, object, source) => syncCustomer(ctx, object, source),
};

export const customerHandlers = {
  'customer.created': customer,
  'customer.updated': customer,
  'customer.deleted': customer,
} as const;
