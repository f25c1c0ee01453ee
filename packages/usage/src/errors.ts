/**
 * Why a record was not stored. Stable strings: clients switch on them.
 *
 * - Shape: `invalid_record` (not an object), `missing_user_id`, `invalid_user_id` (not the
 *   billing API's user id rule: 1-200 of letters, digits and _ . : @ | -),
 *   `unknown_metric`, `invalid_quantity` (missing, not a number, beyond 2^53),
 *   `non_integer_quantity`, `negative_quantity` (negative without `correctsKey`),
 *   `invalid_occurred_at` (missing, unparseable, without a time zone, or a date that does
 *   not exist such as 2026-02-31), `occurred_in_future` (beyond the allowed clock skew),
 *   `before_first_period` (before USAGE_FREE_EPOCH, the start of every user's first
 *   period), `missing_idempotency_key`, `idempotency_key_too_long`,
 *   `invalid_idempotency_key` (NUL or an unpaired surrogate), `invalid_corrects_key`,
 *   `invalid_metadata` (not an object, over 4 KiB, or a NUL / unpaired surrogate inside).
 * - Corrections: `correction_not_negative`, `correction_target_not_found`,
 *   `correction_metric_mismatch`, `correction_of_correction`, `correction_exceeds_original`.
 * - Booking: `period_closed` (USAGE_LATE_POLICY=reject only), `limit_exceeded`
 *   (enforceLimit), `batch_rejected` (atomic batch with another record rejected).
 */
export const USAGE_ERRORS = [
  'invalid_record',
  'missing_user_id',
  'invalid_user_id',
  'unknown_metric',
  'invalid_quantity',
  'non_integer_quantity',
  'negative_quantity',
  'invalid_occurred_at',
  'occurred_in_future',
  'before_first_period',
  'missing_idempotency_key',
  'idempotency_key_too_long',
  'invalid_idempotency_key',
  'invalid_corrects_key',
  'invalid_metadata',
  'correction_not_negative',
  'correction_target_not_found',
  'correction_metric_mismatch',
  'correction_of_correction',
  'correction_exceeds_original',
  'period_closed',
  'limit_exceeded',
  'batch_rejected',
] as const;
export type UsageError = (typeof USAGE_ERRORS)[number];

export interface RecordRejection {
  /** Position of the record in the submitted batch. */
  index: number;
  error: UsageError;
}

/** Redis could not be reached for a limit check; the batch was not stored. */
export class UsageLimiterUnavailableError extends Error {
  readonly code = 'usage_limiter_unavailable';
  constructor(cause: unknown) {
    super(`usage limiter unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'UsageLimiterUnavailableError';
  }
}
