/**
 * The SaaS app's user id, as this system accepts it everywhere (billing API, usage records):
 * plain ASCII, so an id can never be stored as a different string (a lone surrogate is
 * replaced on the way into Postgres) or carry quotes and control characters into logs.
 */
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:@|-]{1,200}$/;
export const USER_ID_RULE = 'must be 1-200 characters of letters, digits and _ . : @ | -';

export const isValidUserId = (value: unknown): value is string =>
  typeof value === 'string' && USER_ID_PATTERN.test(value);
