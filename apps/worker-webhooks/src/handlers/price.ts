import { syncPrice } from '@billing/sync';
import type { EventHandler } from './types.js';

/** `price.*`: the price rows that subscriptions' plans are resolved from (lookup keys). */
const price: EventHandler = {
  family: 'price',
  apply: (ctx, object, source) => syncPrice(ctx, object, source),
};

export const priceHandlers = {
  'price.created': price,
  'price.updated': price,
  'price.deleted': price,
} as const;
