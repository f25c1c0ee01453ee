import type { EventHandler } from './types.js';

/** `product.*`. */
const product: EventHandler = {
  family: 'product',
};

export const productHandlers = {
  'product.created': product,
  'product.updated': product,
  'product.deleted': product,
} as const;
