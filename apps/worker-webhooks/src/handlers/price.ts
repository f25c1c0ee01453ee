import type { EventHandler } from './types.js';

/** `price.*`: the price rows that subscriptions' plans are resolved from (lookup keys). */
const price: EventHandler = {
  family: 'price',
};

export const priceHandlers = {
  'price.created': price,
  'price.updated': price,
  'price.deleted': price,
} as const;
