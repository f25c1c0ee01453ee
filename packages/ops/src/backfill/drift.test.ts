import { describe, expect, it } from 'vitest';
import { driftedFields } from './drift.js';

describe('drift', () => {
  it('names the columns that differ, comparing dates, json and nulls by value', () => {
    const stored = {
      id: 'cus_1',
      email: 'old@example.com',
      name: null,
      metadata: { b: '2', a: '1' },
      createdAt: new Date('2024-01-01T00:00:00Z'),
      userId: 'u_1',
      lastEventId: 'evt_1',
    };
    const fromStripe = {
      id: 'cus_1',
      email: 'new@example.com',
      name: undefined,
      metadata: { a: '1', b: '2' },
      createdAt: new Date('2024-01-01T00:00:00Z'),
      userId: null,
      currency: 'usd',
    };
    expect(driftedFields(fromStripe, stored, new Set(['userId']))).toEqual(['email']);
    expect(
      driftedFields({ ...fromStripe, metadata: { a: '9' } }, stored, new Set(['userId'])),
    ).toEqual(['email', 'metadata']);
  });
});
