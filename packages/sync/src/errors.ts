import { ZodError } from 'zod';

/**
 * An error that retrying cannot fix: the payload does not have the shape the writer needs,
 * or a handler found a contradiction. The worker turns it into BullMQ's UnrecoverableError
 * and stores the reason on the `webhook_events` row.
 */
export class PermanentSyncError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentSyncError';
    this.code = code;
  }
}

/** An error that goes away by itself (a connection, a lock, a rate limit): retry later. */
export class TransientSyncError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientSyncError';
    this.code = code;
  }
}

/**
 * A Postgres driver error raised by a batch statement, with its SQLSTATE as `code` and the
 * driver error as `cause`, and without the statement's parameters (payloads) in the message.
 */
export class DatabaseError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseError';
    this.code = code;
  }

  static wrap(error: unknown): unknown {
    if (!(error instanceof Error) || error instanceof DatabaseError) return error;
    const code = (error as { code?: unknown }).code;
    return new DatabaseError(error.message, typeof code === 'string' ? code : undefined, {
      cause: error,
    });
  }
}

/**
 * True for errors that mean the database (or the network to it) is unreachable, not that one
 * statement or row is wrong: a whole batch fails with them instead of being split.
 */
export function isUnavailable(error: unknown): boolean {
  for (let e = error as MaybeCoded | undefined, depth = 0; e && depth < 4; depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (TRANSIENT_NODE_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code))
      return true;
    e = e.cause as MaybeCoded | undefined;
  }
  return false;
}

export type ErrorKind = 'transient' | 'permanent';

/**
 * SQLSTATEs that succeed when the same transaction runs again: serialization failure,
 * deadlock, lock timeout, statement cancelled by a timeout, too many connections, and the
 * whole "connection exception" (08) and "operator intervention" (57P0x) classes.
 */
const TRANSIENT_SQLSTATES = new Set([
  '40001',
  '40P01',
  '55P03',
  '57014',
  '53300',
  '53400',
  '57P01',
  '57P02',
  '57P03',
]);
const TRANSIENT_SQLSTATE_CLASSES = ['08'];
/** Data errors (22), integrity violations (23), syntax / undefined objects (42): a bug or a bad payload. */
const PERMANENT_SQLSTATE_CLASSES = ['22', '23', '42'];

/** Node / postgres.js / ioredis error codes of a network problem. */
const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

interface MaybeCoded {
  code?: unknown;
  name?: unknown;
  type?: unknown;
  statusCode?: unknown;
  severity?: unknown;
  cause?: unknown;
}

const isSqlState = (code: unknown): code is string =>
  typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);

/**
 * Decides whether a failed event should be retried (with backoff) or go to the dead-letter
 * set. Transient: Postgres connection loss, deadlock / serialization failure / lock timeout,
 * Stripe rate limits, 5xx and connection errors. Permanent: payloads that do not parse,
 * PermanentSyncError, Postgres data / constraint / syntax errors, and programming errors
 * (TypeError, RangeError, …). Anything unrecognised is treated as transient: it retries with
 * backoff and, if it never succeeds, still ends in the failed set after the last attempt,
 * so nothing disappears.
 */
export function classifyError(error: unknown): ErrorKind {
  if (error instanceof PermanentSyncError || error instanceof ZodError) return 'permanent';
  if (error instanceof TransientSyncError) return 'transient';
  if (!error || typeof error !== 'object') return 'transient';
  const e = error as MaybeCoded;

  // Stripe errors carry `type` (StripeRateLimitError, …) and an HTTP statusCode.
  if (typeof e.type === 'string' && e.type.startsWith('Stripe')) {
    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
    if (
      e.type === 'StripeRateLimitError' ||
      e.type === 'StripeConnectionError' ||
      e.type === 'StripeAPIError'
    ) {
      return 'transient';
    }
    // A revoked or wrong key is fixed by an operator, not by the payload: keep retrying.
    if (e.type === 'StripeAuthenticationError' || e.type === 'StripePermissionError')
      return 'transient';
    if (status !== undefined) return status === 429 || status >= 500 ? 'transient' : 'permanent';
    return 'permanent';
  }

  if (isSqlState(e.code)) {
    if (TRANSIENT_SQLSTATES.has(e.code)) return 'transient';
    if (TRANSIENT_SQLSTATE_CLASSES.some((prefix) => e.code!.toString().startsWith(prefix)))
      return 'transient';
    if (PERMANENT_SQLSTATE_CLASSES.some((prefix) => e.code!.toString().startsWith(prefix)))
      return 'permanent';
  }
  if (typeof e.code === 'string' && TRANSIENT_NODE_CODES.has(e.code)) return 'transient';

  if (
    error instanceof TypeError ||
    error instanceof RangeError ||
    error instanceof SyntaxError ||
    error instanceof ReferenceError
  ) {
    return 'permanent';
  }
  // Drizzle wraps driver errors ("Failed query: …") with the original as `cause`.
  if (e.cause && e.cause !== error) return classifyError(e.cause);
  return 'transient';
}

/** A short, log- and column-safe description of an error (no payload content). */
export function describeError(error: unknown): string {
  if (error instanceof ZodError) {
    const issues = error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
      .join('; ');
    return `payload does not match the expected shape: ${issues}`;
  }
  if (error instanceof Error) {
    // Drizzle's "Failed query: <sql> params: …" would copy payload values into the row: keep the driver error only.
    if (error.message.startsWith('Failed query') && error.cause instanceof Error)
      return describeError(error.cause);
    const code = (error as MaybeCoded).code;
    const cause = (error as MaybeCoded).cause;
    const base = `${error.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${error.message}`;
    if (cause instanceof Error && cause !== error && !error.message.includes(cause.message)) {
      return `${base} (cause: ${describeError(cause)})`.slice(0, 2000);
    }
    return base.slice(0, 2000);
  }
  return String(error).slice(0, 2000);
}
