import { describe, expect, it } from 'vitest';
import { metricsOfPlans, validateUsageRecords } from './validate.js';

const now = new Date('2026-03-10T12:00:00Z');
const options = { metrics: ['compute_minutes', 'api_requests'], now, maxFutureSkewMs: 300_000 };
const good = {
  userId: 'user_1',
  metric: 'compute_minutes',
  quantity: 3,
  occurredAt: '2026-03-10T11:00:00Z',
  idempotencyKey: 'k1',
};
const errorOf = (record: unknown) => validateUsageRecords([record], options).rejected[0]?.error;

describe('validateUsageRecords', () => {
  it('accepts a well-formed record and normalises occurredAt to a Date', () => {
    const { valid, rejected } = validateUsageRecords([good], options);
    expect(rejected).toEqual([]);
    expect(valid[0]).toMatchObject({ index: 0, userId: 'user_1', quantity: 3, correctsKey: null });
    expect(valid[0]?.occurredAt.toISOString()).toBe('2026-03-10T11:00:00.000Z');
  });

  it.each([
    ['a string instead of an object', 'hello', 'invalid_record'],
    ['an array instead of an object', [good], 'invalid_record'],
    ['null', null, 'invalid_record'],
    ['no userId', { ...good, userId: undefined }, 'missing_user_id'],
    ['a numeric userId', { ...good, userId: 42 }, 'invalid_user_id'],
    ['a 256-character userId', { ...good, userId: 'u'.repeat(256) }, 'invalid_user_id'],
    ['a metric not in the plan list', { ...good, metric: 'gpu_hours' }, 'unknown_metric'],
    ['no metric', { ...good, metric: undefined }, 'unknown_metric'],
    ['quantity as a string "5"', { ...good, quantity: '5' }, 'invalid_quantity'],
    ['no quantity', { ...good, quantity: undefined }, 'invalid_quantity'],
    ['quantity NaN', { ...good, quantity: Number.NaN }, 'invalid_quantity'],
    ['quantity 2^60', { ...good, quantity: 2 ** 60 }, 'invalid_quantity'],
    ['quantity 1.5', { ...good, quantity: 1.5 }, 'non_integer_quantity'],
    ['quantity -1 without correctsKey', { ...good, quantity: -1 }, 'negative_quantity'],
    ['occurredAt missing', { ...good, occurredAt: undefined }, 'invalid_occurred_at'],
    ['occurredAt "yesterday"', { ...good, occurredAt: 'yesterday' }, 'invalid_occurred_at'],
    [
      'occurredAt without a time zone',
      { ...good, occurredAt: '2026-03-10T11:00:00' },
      'invalid_occurred_at',
    ],
    ['occurredAt as epoch seconds', { ...good, occurredAt: 1773140400 }, 'invalid_occurred_at'],
    [
      'occurredAt one hour in the future',
      { ...good, occurredAt: '2026-03-10T13:00:00Z' },
      'occurred_in_future',
    ],
    ['no idempotencyKey', { ...good, idempotencyKey: undefined }, 'missing_idempotency_key'],
    ['an empty idempotencyKey', { ...good, idempotencyKey: '' }, 'missing_idempotency_key'],
    [
      'a 256-character idempotencyKey',
      { ...good, idempotencyKey: 'k'.repeat(256) },
      'idempotency_key_too_long',
    ],
    [
      'a correction with a positive quantity',
      { ...good, correctsKey: 'k0' },
      'correction_not_negative',
    ],
    [
      'a correction pointing at itself',
      { ...good, quantity: -1, correctsKey: 'k1' },
      'invalid_corrects_key',
    ],
    ['metadata that is an array', { ...good, metadata: [1, 2] }, 'invalid_metadata'],
    ['metadata over 4 KB', { ...good, metadata: { blob: 'x'.repeat(5000) } }, 'invalid_metadata'],
  ])('rejects %s', (_what, record, error) => {
    expect(errorOf(record)).toBe(error);
  });

  it('accepts occurredAt within the allowed clock skew and with a numeric offset', () => {
    expect(errorOf({ ...good, occurredAt: '2026-03-10T12:04:00Z' })).toBeUndefined();
    expect(errorOf({ ...good, occurredAt: '2026-03-10T13:00:00+02:00' })).toBeUndefined();
  });

  it('accepts a negative quantity when it names the record it corrects', () => {
    expect(
      errorOf({ ...good, idempotencyKey: 'k2', quantity: -2, correctsKey: 'k1' }),
    ).toBeUndefined();
  });

  it('reports every bad record of a batch with its own index', () => {
    const { valid, rejected } = validateUsageRecords(
      [
        good,
        { ...good, quantity: -3 },
        { ...good, idempotencyKey: 'k3' },
        { ...good, metric: 'x' },
      ],
      options,
    );
    expect(valid.map((r) => r.index)).toEqual([0, 2]);
    expect(rejected).toEqual([
      { index: 1, error: 'negative_quantity' },
      { index: 3, error: 'unknown_metric' },
    ]);
  });

  it('derives metric names from every plan of the plan list', () => {
    expect(
      metricsOfPlans({ plans: [{ limits: { b: 1, a: 2 } }, { limits: { a: 3, c: 4 } }] }),
    ).toEqual(['a', 'b', 'c']);
  });
});
