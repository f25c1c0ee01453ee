import { createHash } from 'node:crypto';
import { fieldError } from '../http/validation.js';

/** A client's `Idempotency-Key` header: printable ASCII, at most 200 characters. */
const CLIENT_KEY = /^[\x21-\x7e]{1,200}$/;

export function clientIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !CLIENT_KEY.test(value)) {
    throw fieldError(
      'Idempotency-Key',
      'must be 1-200 printable ASCII characters without spaces',
      'header',
    );
  }
  return value;
}

/**
 * The Idempotency-Key sent to Stripe for one mutation, derived only from the request:
 *
 *   `billing-api:<action>:` + first 40 hex of sha256(JSON [action, ...parts, scope])
 *
 * `parts` name what the call does (user, subscription and its row version, price, URLs), so
 * the same key never carries different parameters. `scope` is the client's own
 * `Idempotency-Key` header when sent (a client retry reuses the Stripe call exactly), else
 * the current UTC minute (a double click or a retry within the minute makes one Stripe call;
 * a deliberate repeat a minute later is a new call). The row version (`last_event_id`) means
 * that once the webhook for a change has landed, the opposite change gets a fresh key even
 * within the same minute.
 */
export function stripeIdempotencyKey(
  action: string,
  parts: readonly (string | number | null)[],
  clientKey: string | undefined,
  nowMs: number,
): string {
  const scope =
    clientKey !== undefined ? ['client', clientKey] : ['minute', Math.floor(nowMs / 60_000)];
  const digest = createHash('sha256')
    .update(JSON.stringify([action, ...parts, ...scope]))
    .digest('hex')
    .slice(0, 40);
  return `billing-api:${action}:${digest}`;
}
