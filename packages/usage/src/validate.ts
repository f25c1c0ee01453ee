import { isValidUserId } from '@billing/config';
import type { RecordRejection, UsageError } from './errors.js';

/** A record as a client sends it (JSON). */
export interface UsageRecordInput {
  userId: string;
  metric: string;
  /** Whole units. Negative only in a correction (`correctsKey` set). */
  quantity: number;
  /** ISO 8601 with a time zone (`Z` or `+02:00`), or a Date. */
  occurredAt: string | Date;
  /** Unique per user; a repeat is a no-op reported as a duplicate. 1–255 characters. */
  idempotencyKey: string;
  /** Idempotency key of the original record this one corrects. */
  correctsKey?: string;
  metadata?: Record<string, unknown>;
}

/** A record that passed the checks that need no database. */
export interface ValidUsageRecord {
  index: number;
  userId: string;
  metric: string;
  quantity: number;
  occurredAt: Date;
  idempotencyKey: string;
  correctsKey: string | null;
  metadata: Record<string, unknown> | null;
}

export interface ValidateOptions {
  /** Known metric names (the keys of the plan list's limits). */
  metrics: Iterable<string>;
  now: Date;
  /** How far `occurredAt` may lie ahead of `now`. */
  maxFutureSkewMs: number;
  /** Start of every user's first period (USAGE_FREE_EPOCH): earlier records are refused. */
  earliest?: Date;
}

export interface ValidationResult {
  valid: ValidUsageRecord[];
  rejected: RecordRejection[];
}

export const MAX_KEY_LENGTH = 255;
export const MAX_METADATA_BYTES = 4096;

const ZONED_ISO =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-](\d{2}):?(\d{2}))$/i;

/**
 * NUL (Postgres text and jsonb cannot hold it: the whole batch failed with a 500) or a UTF-16
 * surrogate without its pair (stored as U+FFFD, i.e. as a different string).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this pattern must find
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when some key or string value anywhere in `value` cannot be stored as sent. */
function hasUnstorable(value: unknown): boolean {
  if (typeof value === 'string') return UNSTORABLE.test(value);
  if (Array.isArray(value)) return value.some(hasUnstorable);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).some(([key, item]) => UNSTORABLE.test(key) || hasUnstorable(item));
  }
  return false;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

function parseOccurredAt(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value !== 'string') return undefined;
  const match = ZONED_ISO.exec(value);
  if (!match) return undefined;
  // Date.parse rolls impossible dates over (2026-02-31 → 03-03): every field must exist.
  const [, y, mo, d, h, mi, s = '0', , , oh = '0', om = '0'] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  if (Number(oh) > 23 || Number(om) > 59) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** The first problem of one record, or the normalised record. */
export function validateUsageRecord(
  input: unknown,
  index: number,
  metrics: ReadonlySet<string>,
  options: Pick<ValidateOptions, 'now' | 'maxFutureSkewMs' | 'earliest'>,
): ValidUsageRecord | UsageError {
  if (!isPlainObject(input)) return 'invalid_record';
  const { userId, metric, quantity, occurredAt, idempotencyKey, correctsKey, metadata } = input;

  if (userId === undefined || userId === null || userId === '') return 'missing_user_id';
  // The billing API's rule, so usage cannot be booked to an id the API would refuse.
  if (!isValidUserId(userId)) return 'invalid_user_id';

  if (typeof metric !== 'string' || !metrics.has(metric)) return 'unknown_metric';

  if (typeof quantity !== 'number' || !Number.isFinite(quantity)) return 'invalid_quantity';
  if (!Number.isInteger(quantity)) return 'non_integer_quantity';
  if (!Number.isSafeInteger(quantity)) return 'invalid_quantity';

  const at = parseOccurredAt(occurredAt);
  if (!at) return 'invalid_occurred_at';
  if (at.getTime() > options.now.getTime() + options.maxFutureSkewMs) return 'occurred_in_future';
  if (options.earliest && at.getTime() < options.earliest.getTime()) return 'before_first_period';

  if (idempotencyKey === undefined || idempotencyKey === null || idempotencyKey === '') {
    return 'missing_idempotency_key';
  }
  if (typeof idempotencyKey !== 'string') return 'missing_idempotency_key';
  if (idempotencyKey.length > MAX_KEY_LENGTH) return 'idempotency_key_too_long';
  if (UNSTORABLE.test(idempotencyKey)) return 'invalid_idempotency_key';

  let corrects: string | null = null;
  if (correctsKey !== undefined && correctsKey !== null) {
    if (
      typeof correctsKey !== 'string' ||
      correctsKey === '' ||
      correctsKey.length > MAX_KEY_LENGTH ||
      correctsKey === idempotencyKey ||
      UNSTORABLE.test(correctsKey)
    ) {
      return 'invalid_corrects_key';
    }
    if (quantity >= 0) return 'correction_not_negative';
    corrects = correctsKey;
  } else if (quantity < 0) {
    return 'negative_quantity';
  }

  let meta: Record<string, unknown> | null = null;
  if (metadata !== undefined && metadata !== null) {
    if (!isPlainObject(metadata)) return 'invalid_metadata';
    if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) return 'invalid_metadata';
    if (hasUnstorable(metadata)) return 'invalid_metadata';
    meta = metadata;
  }

  return {
    index,
    userId,
    metric,
    quantity,
    occurredAt: at,
    idempotencyKey,
    correctsKey: corrects,
    metadata: meta,
  };
}

/**
 * Checks every record without touching the database. Each bad record is reported once,
 * with the first problem found. Checks that need the ledger (a correction's original, the
 * period, the limit) happen in `ingestUsage`.
 */
export function validateUsageRecords(
  records: readonly unknown[],
  options: ValidateOptions,
): ValidationResult {
  const metrics =
    options.metrics instanceof Set ? (options.metrics as Set<string>) : new Set(options.metrics);
  const valid: ValidUsageRecord[] = [];
  const rejected: RecordRejection[] = [];
  records.forEach((record, index) => {
    const result = validateUsageRecord(record, index, metrics, options);
    if (typeof result === 'string') rejected.push({ index, error: result });
    else valid.push(result);
  });
  return { valid, rejected };
}

/** The metric names of a plan list: every key of every plan's `limits`. */
export function metricsOfPlans(planList: {
  plans: readonly { limits: Record<string, number> }[];
}): string[] {
  return [...new Set(planList.plans.flatMap((plan) => Object.keys(plan.limits)))].sort();
}
