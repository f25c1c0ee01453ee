import { createHash } from 'node:crypto';
import { laterByContent, type TieCandidate } from './ties.js';

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
  const latest = unique.filter((x) => !unique.some((y) => y !== x && laterByContent(y, x)));
  if (latest.length === 1) return { winner: latest[0]!, decision: 'content' };
  const pool = latest.length > 0 ? latest : unique;
  let best = pool[0]!;
  let bestPrint = fingerprint(best);
  for (const candidate of pool.slice(1)) {
    const print = fingerprint(candidate);
    if (print > bestPrint || (print === bestPrint && candidate.eventId > best.eventId)) {
      best = candidate;
      bestPrint = print;
    }
  }
  return { winner: best, decision: 'undecidable' };
}
