import { createHash } from 'node:crypto';
import { laterByContent, mayFollow, type TieCandidate } from './ties.js';

/**
 * How the last write among same-second, same-rank events was chosen:
 * - `content`: the payloads ordered them (ties.ts), no Stripe call;
 * - `undecidable`: they did not; the pick is a pure function of the set of events, so every
 *   delivery order ends in the same state (the caller may re-read Stripe instead).
 */
export type TieDecision = 'content' | 'undecidable';

/** JSON with sorted keys: the same object read from a payload or from jsonb prints the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as Record<string, unknown>)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

const fingerprint = (candidate: TieCandidate) =>
  createHash('sha256').update(canonical(candidate.object)).digest('hex');

/**
 * The events that can come last in an order of all candidates where each event's previous
 * values are the object of the one before it (the chain Stripe's changes form). A toggle
 * (on, then off) fits both ways round; active → past_due → active within one second fits
 * only one way, although no pair of those three decides on its own. Undefined when no such
 * order exists (events without previous_attributes) or there are too many to try.
 */
function chainEnds<T extends TieCandidate>(candidates: readonly T[]): Set<T> | undefined {
  if (candidates.length > 6) return undefined;
  const ends = new Set<T>();
  const walk = (last: T | undefined, left: readonly T[]) => {
    if (left.length === 0) {
      if (last) ends.add(last);
      return;
    }
    for (const next of left) {
      if (last && !mayFollow(next, last)) continue;
      walk(
        next,
        left.filter((c) => c !== next),
      );
    }
  };
  walk(undefined, candidates);
  return ends.size > 0 ? ends : undefined;
}

/**
 * The event whose object the row must end with, among events with the same ordering key.
 * The candidates content does not place before another are the latest; if that is one event,
 * content decided. Otherwise (a toggle within the second, or payloads without
 * previous_attributes) the one with the greatest fingerprint of its object (then event id)
 * wins: arbitrary, but the same whatever order the events arrived in.
 */
export function latestOf<T extends TieCandidate>(
  candidates: readonly T[],
): { winner: T; decision: TieDecision | 'single' } {
  const unique = [...new Map(candidates.map((c) => [c.eventId, c])).values()];
  if (unique.length === 1) return { winner: unique[0]!, decision: 'single' };
  const ends = chainEnds(unique);
  if (ends?.size === 1) return { winner: [...ends][0]!, decision: 'content' };
  const among = ends ? [...ends] : unique;
  const latest = among.filter((x) => !among.some((y) => y !== x && laterByContent(y, x)));
  if (latest.length === 1) return { winner: latest[0]!, decision: 'content' };
  const pool = latest.length > 0 ? latest : among;
  let best = pool[0]!;
  let bestPrint = fingerprint(best);
  let identical = true;
  for (const candidate of pool.slice(1)) {
    const print = fingerprint(candidate);
    if (print !== bestPrint) identical = false;
    if (print > bestPrint || (print === bestPrint && candidate.eventId > best.eventId)) {
      best = candidate;
      bestPrint = print;
    }
  }
  // Events carrying the same object (invoice.paid and invoice.payment_succeeded) need no
  // decision: whichever is written, the row is the same.
  return { winner: best, decision: identical ? 'content' : 'undecidable' };
}
