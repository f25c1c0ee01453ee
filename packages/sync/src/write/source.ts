import type { SyncContext, WriteSource } from '../context.js';
import type { SyncFamily } from '../refetch.js';
import type { GuardOutcome } from './guard.js';

/**
 * The object a write starts from: the event's payload, or, for families listed in
 * STRIPE_REFETCH_OBJECTS, the object as Stripe has it now. Callers hold the customer lock,
 * so the copy read here is at least as new as anything already written for that customer.
 */
export async function startingObject(
  ctx: SyncContext,
  family: SyncFamily,
  id: string,
  source: WriteSource,
  payload: unknown,
): Promise<{ object: unknown; refetched: boolean }> {
  if (!ctx.refetcher || !ctx.refetchAlways?.has(family))
    return { object: payload, refetched: false };
  const fresh = await ctx.refetcher.retrieve(family, id, source.account);
  // Gone from Stripe (deleted): the payload is the last state there is.
  if (!fresh) return { object: payload, refetched: false };
  return { object: fresh, refetched: true };
}

export interface GuardedWrite<R> {
  outcome: GuardOutcome;
  /** What RETURNING gave back when the write applied. */
  returned?: R;
}

export interface ResolvedWrite<N, R> {
  outcome: 'applied' | 'stale';
  normalized: N;
  returned?: R;
  tie?: 'refetched';
  refetched: boolean;
}

/**
 * Runs a guarded upsert and resolves an exact tie (same second, same rank, another event):
 * - with Stripe access: the write first runs with a strict `>`; on a tie the object is
 *   re-read from Stripe and written (the current object is at least as new as both events);
 * - without: the write runs with last-arrival-wins, so the later delivery is applied.
 * Either way the later event is never silently dropped.
 */
export async function writeResolvingTies<N, R>(
  ctx: SyncContext,
  family: SyncFamily,
  id: string,
  source: WriteSource,
  normalized: N,
  refetched: boolean,
  options: {
    write: (normalized: N, tieWins: boolean) => Promise<GuardedWrite<R>>;
    /** Normalises a freshly retrieved object (may merge with the payload, e.g. for deleted stubs). */
    fromStripe: (fresh: Record<string, unknown>) => N;
  },
): Promise<ResolvedWrite<N, R>> {
  const canRefetch = ctx.refetcher !== undefined && ctx.refetchOnTie !== false && !refetched;
  const first = await options.write(normalized, !canRefetch);
  if (first.outcome !== 'tie') {
    return { outcome: first.outcome, normalized, returned: first.returned, refetched };
  }
  // Only reachable with a refetcher: without one the tie already won above.
  const fresh = await ctx.refetcher!.retrieve(family, id, source.account);
  const next = fresh ? options.fromStripe(fresh) : normalized;
  const second = await options.write(next, true);
  // Debug: a renewal storm resolves hundreds of these, each one routine. The event id is
  // already on ctx.logger (the worker binds it per event), so it is not repeated here.
  ctx.logger.debug({ family, objectId: id, refetched: fresh !== null }, 'same-second tie resolved');
  return {
    outcome: second.outcome === 'applied' ? 'applied' : 'stale',
    normalized: next,
    returned: second.returned,
    tie: 'refetched',
    refetched: fresh !== null,
  };
}
