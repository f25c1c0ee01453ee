/**
 * The ordering key of a write is (event created, rank). Stripe's `created` has one-second
 * resolution, so two events about one object often share it; the rank breaks that tie
 * deterministically. rank = 10 × state rank + action rank:
 *
 * - state rank: how far along the object's lifecycle its status is, for objects whose status
 *   only moves forward (a paid invoice never becomes open again). Statuses that move back
 *   and forth (active ↔ past_due) share a rank.
 * - action rank: `*.created` 0 < every other event (`*.updated`, `*.paid`, …) 1 < `*.deleted` 2.
 *   A backfill (no event) uses 1.
 *
 * The state dominates: `customer.subscription.updated` (canceled) outranks a same-second
 * `customer.subscription.updated` (active). An exact tie (same second, same rank, another
 * event) is resolved by the writer (re-fetch or last-arrival-wins), never dropped.
 */

export type ActionRank = 0 | 1 | 2;

export function actionRank(eventType: string | null | undefined): ActionRank {
  if (!eventType) return 1;
  if (eventType.endsWith('.created')) return 0;
  if (eventType.endsWith('.deleted')) return 2;
  return 1;
}

/** incomplete < trialing / active / past_due / unpaid / paused < canceled / incomplete_expired. */
export const SUBSCRIPTION_STATE_RANK: Readonly<Record<string, number>> = {
  incomplete: 1,
  trialing: 2,
  active: 2,
  past_due: 2,
  unpaid: 2,
  paused: 2,
  canceled: 3,
  incomplete_expired: 3,
};

/**
 * draft < open < uncollectible < paid / void. Uncollectible sits below paid and void because
 * an uncollectible invoice can still be paid or voided; paid and void are final. `deleted`
 * (our status for `invoice.deleted`, which only drafts get) is final too.
 */
export const INVOICE_STATE_RANK: Readonly<Record<string, number>> = {
  draft: 1,
  open: 2,
  uncollectible: 3,
  paid: 4,
  void: 4,
  deleted: 5,
};

/** not_started < active < completed / released / canceled. */
export const SCHEDULE_STATE_RANK: Readonly<Record<string, number>> = {
  not_started: 1,
  active: 2,
  completed: 3,
  released: 3,
  canceled: 3,
};

/** open < paid / canceled (an invoice payment attempt settles once). */
export const INVOICE_PAYMENT_STATE_RANK: Readonly<Record<string, number>> = {
  open: 1,
  paid: 2,
  canceled: 2,
};

/** Objects that can be deleted: a deletion is final. */
export const deletedStateRank = (deleted: boolean): number => (deleted ? 2 : 1);

export function stateRank(
  table: Readonly<Record<string, number>>,
  status: string | null | undefined,
): number {
  return (status ? table[status] : undefined) ?? 0;
}

export function writeRank(eventType: string | null | undefined, state: number): number {
  return state * 10 + actionRank(eventType);
}
