import { describe, expect, it } from 'vitest';
import type { TieCandidate } from './ties.js';
import { latestOf } from './winner.js';

const sub = (extra: Record<string, unknown>) => ({
  object: 'subscription',
  id: 'sub_1',
  status: 'active',
  cancel_at_period_end: false,
  latest_invoice: 'in_old',
  ...extra,
});
const event = (
  eventId: string,
  object: Record<string, unknown>,
  previous?: Record<string, unknown>,
): TieCandidate => ({ eventId, type: 'customer.subscription.updated', object, previous });

/** Every order of the candidates must give the same winner. */
function inEveryOrder(candidates: TieCandidate[]) {
  const results = new Set<string>();
  const decisions = new Set<string>();
  const permute = (done: TieCandidate[], left: TieCandidate[]) => {
    if (left.length === 0) {
      const { winner, decision } = latestOf(done);
      results.add(winner.eventId);
      decisions.add(decision);
      return;
    }
    for (const c of left)
      permute(
        [...done, c],
        left.filter((x) => x !== c),
      );
  };
  permute([], candidates);
  expect(results.size).toBe(1);
  expect(decisions.size).toBe(1);
  return { winner: [...results][0], decision: [...decisions][0] };
}

describe('latestOf: same-second ties', () => {
  it('decides from previous_attributes which of two changes came last', () => {
    const earlier = event('evt_a', sub({ status: 'past_due' }), { status: 'active' });
    const later = event('evt_b', sub({ status: 'active', latest_invoice: 'in_new' }), {
      status: 'past_due',
      latest_invoice: 'in_old',
    });
    expect(inEveryOrder([earlier, later])).toEqual({ winner: 'evt_b', decision: 'content' });
  });

  it('decides active → past_due → active within one second from the chain of the three', () => {
    const renewal = event('evt_r', sub({ current_period_start: 2, latest_invoice: 'in_new' }), {
      current_period_start: 1,
      latest_invoice: 'in_old',
    });
    const failed = event(
      'evt_f',
      sub({ current_period_start: 2, latest_invoice: 'in_new', status: 'past_due' }),
      { status: 'active' },
    );
    const recovered = event(
      'evt_ok',
      sub({ current_period_start: 2, latest_invoice: 'in_new', status: 'active' }),
      { status: 'past_due' },
    );
    expect(inEveryOrder([renewal, failed, recovered])).toEqual({
      winner: 'evt_ok',
      decision: 'content',
    });
  });

  it('calls a cancel turned on and off within one second undecidable, and still picks one winner in every order', () => {
    const on = event('evt_on', sub({ cancel_at_period_end: true }), {
      cancel_at_period_end: false,
    });
    const off = event('evt_off', sub({ cancel_at_period_end: false }), {
      cancel_at_period_end: true,
    });
    expect(inEveryOrder([on, off]).decision).toBe('undecidable');
  });

  it('needs no decision between events carrying the same object', () => {
    const paid = { object: 'invoice', id: 'in_1', status: 'paid', attempt_count: 1 };
    const a = { eventId: 'evt_paid', type: 'invoice.paid', object: paid };
    const b = { eventId: 'evt_succeeded', type: 'invoice.payment_succeeded', object: { ...paid } };
    expect(inEveryOrder([a, b]).decision).toBe('content');
  });

  it('orders invoices by attempt_count without previous_attributes', () => {
    const first = {
      eventId: 'evt_1',
      type: 'invoice.payment_failed',
      object: { object: 'invoice', attempt_count: 1 },
    };
    const second = {
      eventId: 'evt_2',
      type: 'invoice.payment_failed',
      object: { object: 'invoice', attempt_count: 2 },
    };
    expect(inEveryOrder([second, first])).toEqual({ winner: 'evt_2', decision: 'content' });
  });
});
