import type { EventHandler } from './types.js';

/** `subscription_schedule.*`: the schedule and its phases (upcoming plan changes). */
const schedule: EventHandler = {
  family: 'subscription_schedule',
};

export const subscriptionScheduleHandlers = {
  'subscription_schedule.created': schedule,
  'subscription_schedule.updated': schedule,
  'subscription_schedule.aborted': schedule,
  'subscription_schedule.canceled': schedule,
  'subscription_schedule.completed': schedule,
  'subscription_schedule.expiring': schedule,
  'subscription_schedule.released': schedule,
} as const;
