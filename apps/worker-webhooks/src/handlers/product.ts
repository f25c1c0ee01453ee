import { syncProduct } from '@billing/sync';
import type { EventHandler } from './types.js';

/** `product.*`. */
const product: EventHandler = {
  family: 'product',
  apply: (ctx, object, source) => syncProduct(ctx, object, source),
};

export const productHandlers = {
  'product.created': product,
  'product.updated': product,
  'product.deleted': product,
} as const;
