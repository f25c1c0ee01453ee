/**
 * Builders for Stripe objects. Each one deep-copies the matching resource of Stripe's own
 * fixtures3.json (so payloads carry every real field, nested the real way), gives it fresh
 * ids, and sets the fields billing code depends on (status, customer, prices, periods,
 * metadata.user_id) deliberately: the fixture numbers are random filler.
 *
 * Every builder takes `overrides`, deep-merged last (objects merge, arrays and scalars
 * replace), for anything the named options do not cover.
 *
 * One file per resource under `factories/`; `factories/base.ts` holds what they share.
 */

export { type ApiShape, type DeepPartial, deepMerge } from './factories/base.js';
export * from './factories/checkout.js';
export * from './factories/customers.js';
export * from './factories/entitlements.js';
export * from './factories/events.js';
export * from './factories/invoices.js';
export * from './factories/products.js';
export * from './factories/subscription-schedules.js';
export * from './factories/subscriptions.js';
