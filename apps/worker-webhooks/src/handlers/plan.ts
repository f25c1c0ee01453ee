import type { EventHandler } from './types.js';

/**
 * `plan.*`: a legacy Plan is the recurring price with the same id, so it lands in `prices`
 * (keeping the lookup key a `price.*` event stored; plans have none).
 */
const plan: EventHandler = {
  family: 'plan',
};

export const planHandlers = {
  'plan.created': plan,
  'plan.updated': plan,
  'plan.deleted': plan,
} as const;
