import type { EventHandler } from './types.js';

/** `customer.*`: the customer row and, through `metadata.user_id`, its app user. */
const customer: EventHandler = {
  family: 'customer',
};

export const customerHandlers = {
  'customer.created': customer,
  'customer.updated': customer,
  'customer.deleted': customer,
} as const;
