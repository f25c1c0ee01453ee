/**
 * Same-second ties decided from the events themselves (DESIGN invariant 3). Stripe's
 * `created` has one-second resolution, so two events about one object often share it; when
 * their rank (rank.ts) is equal too, their payloads usually still say which came first:
 *
 * - monotonic fields: an invoice's `attempt_count` and `status_transitions` only grow, a
 *   subscription's period start only moves forward;
 * - `data.previous_attributes` of an `*.updated` event holds the changed fields' values
 *   before the change. If B came after A, B's previous values are A's values: they hold in
 *   A's object. A's previous values normally do not hold in B's object (B's object is after
 *   A's change). When both hold (a field toggled on and off within the second) or neither
 *   does, content cannot decide.
 */

export interface TieCandidate {
  eventId: string;
  /** The event's `type`: the object family is read from it. */
  type: string | null;
  /** `data.object` as delivered. */
  object: Record<string, unknown>;
  /** `data.previous_attributes`, absent for most non-update events. */
  previous?: Record<string, unknown> | null;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isEmpty = (value: unknown) => value === null || value === undefined || value === '';

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isEmpty(a) && isEmpty(b)) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) if (!deepEqual(a[key], b[key])) return false;
    return true;
  }
  return false;
}

/**
 * Whether the previous values `previous` hold in `object`. Nested objects (metadata, a
 * pause_collection) are compared key by key, as Stripe lists only the changed keys there;
 * lists are compared whole, as Stripe gives the whole previous list.
 */
export function previousHoldsIn(
  previous: Record<string, unknown> | null | undefined,
  object: Record<string, unknown>,
): boolean {
  if (!previous) return false;
  const keys = Object.keys(previous);
  if (keys.length === 0) return false;
  return keys.every((key) => holds(previous[key], object[key]));
}

function holds(previous: unknown, current: unknown): boolean {
  if (isPlainObject(previous) && isPlainObject(current)) {
    return Object.keys(previous).every((key) => holds(previous[key], current[key]));
  }
  return deepEqual(previous, current);
}

const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);

/** Count and latest of the non-null `status_transitions` timestamps. */
function transitions(object: Record<string, unknown>): [number, number] {
  const st = object.status_transitions;
  if (!isPlainObject(st)) return [0, 0];
  let count = 0;
  let latest = 0;
  for (const value of Object.values(st)) {
    const n = num(value);
    if (n !== null) {
      count += 1;
      latest = Math.max(latest, n);
    }
  }
  return [count, latest];
}

function periodStart(object: Record<string, unknown>): number | null {
  const own = num(object.current_period_start);
  if (own !== null) return own;
  const items = object.items;
  const first = isPlainObject(items) && Array.isArray(items.data) ? items.data[0] : undefined;
  return isPlainObject(first) ? num(first.current_period_start) : null;
}

/** The fields of a family that only move forward, in priority order. */
function monotonic(type: string | null, object: Record<string, unknown>): number[] {
  const kind = typeof object.object === 'string' ? object.object : (type ?? '');
  if (kind === 'invoice' || kind.startsWith('invoice.')) {
    const [count, latest] = transitions(object);
    return [num(object.attempt_count) ?? 0, count, latest];
  }
  if (kind === 'subscription' || kind.startsWith('customer.subscription.')) {
    return [periodStart(object) ?? 0];
  }
  if (kind === 'invoice_payment') {
    const [count, latest] = transitions(object);
    return [count, latest];
  }
  return [];
}

/** >0 when a's monotonic fields are further along than b's, <0 the other way, 0 when equal. */
export function compareMonotonic(a: TieCandidate, b: TieCandidate): number {
  const ma = monotonic(a.type, a.object);
  const mb = monotonic(b.type, b.object);
  for (let i = 0; i < Math.min(ma.length, mb.length); i++) {
    if (ma[i]! !== mb[i]!) return ma[i]! > mb[i]! ? 1 : -1;
  }
  return 0;
}

/**
 * True when `next` may directly follow `previous`: its previous values are `previous`'s, and
 * the fields `previous` changed that `next` did not change still hold `previous`'s values.
 */
export function mayFollow(next: TieCandidate, previous: TieCandidate): boolean {
  if (compareMonotonic(next, previous) < 0) return false;
  if (!previousHoldsIn(next.previous, previous.object)) return false;
  for (const key of Object.keys(previous.previous ?? {})) {
    if (next.previous && key in next.previous) continue;
    if (!deepEqual(next.object[key], previous.object[key])) return false;
  }
  return true;
}

/**
 * A recurring price is also delivered as a legacy plan (`plan.*`, same id, same second). The
 * price rendering carries more (the lookup key), so it is the one to keep.
 */
function richerRendering(a: TieCandidate, b: TieCandidate): boolean {
  return a.object.object === 'price' && b.object.object === 'plan';
}

/** True when content says `a` happened after `b`. */
export function laterByContent(a: TieCandidate, b: TieCandidate): boolean {
  if (richerRendering(a, b)) return true;
  if (richerRendering(b, a)) return false;
  const byFields = compareMonotonic(a, b);
  if (byFields !== 0) return byFields > 0;
  return previousHoldsIn(a.previous, b.object) && !previousHoldsIn(b.previous, a.object);
}
