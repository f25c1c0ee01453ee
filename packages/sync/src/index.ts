export * from './context.js';
export * from './errors.js';
export * from './normalize/catalog.js';
export * from './normalize/checkout-session.js';
export { customerIdOf, objectIdOf } from './normalize/common.js';
export * from './normalize/customer.js';
export * from './normalize/entitlements.js';
export * from './normalize/event.js';
export * from './normalize/invoice.js';
export * from './normalize/invoice-payment.js';
export * from './normalize/subscription.js';
export * from './normalize/subscription-schedule.js';
export { laterByContent, previousHoldsIn, type TieCandidate } from './order/ties.js';
export { latestOf, type TieDecision } from './order/winner.js';
export * from './rank.js';
export * from './refetch.js';
export * from './sync-object.js';
export {
  type BatchOptions,
  type BatchOutcome,
  type BatchWrite,
  type FreshObjects,
  fetchFresh,
  type PreparedBatch,
  prepareBatch,
  type RefetchKey,
  RefetchNeeded,
  refetchesBefore,
  writeBatch,
} from './write/batch.js';
export { customerLockSql, lockCustomer } from './write/guard.js';
export { lockKeyOf } from './write/models.js';
export { resolvePlanId } from './write/plans.js';
export { executorRunner, postgresClientOf, sqlRunner } from './write/runner.js';
export {
  MAX_REFETCH_ROUNDS,
  syncCheckoutSession,
  syncCustomer,
  syncEntitlementSummary,
  syncInvoice,
  syncInvoicePayment,
  syncPrice,
  syncProduct,
  syncSubscription,
  syncSubscriptionSchedule,
  writeOne,
} from './write/single.js';
export type { GuardedRow, SqlRunner } from './write/statement.js';
export { LOCK_KEYS_STATEMENT } from './write/tables.js';
export { linkCustomerToUser, userOfCustomer } from './write/users.js';
