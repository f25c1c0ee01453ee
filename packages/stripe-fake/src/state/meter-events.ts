import { randomUUID } from 'node:crypto';
import type { Stripe } from '@billing/stripe';
import { parameterInvalid } from '../errors.js';
import { DAY_SECONDS } from '../ids.js';
import { CheckoutState } from './checkout.js';

const METER_EVENT_MAX_AGE = 35 * DAY_SECONDS;
const METER_EVENT_MAX_FUTURE = 5 * 60;

/** Billing meter events: one per identifier, within Stripe's timestamp window. */
export abstract class MeterEventsState extends CheckoutState {
  /**
   * Records a meter event. The identifier is unique within Stripe's rolling window: a
   * repeat is accepted and counted once (the first one stands).
   */
  recordMeterEvent(input: {
    eventName: string;
    payload: Record<string, string>;
    identifier?: string;
    timestamp?: number;
  }): Stripe.Billing.MeterEvent {
    const now = this.now();
    const timestamp = input.timestamp ?? now;
    if (timestamp < now - METER_EVENT_MAX_AGE || timestamp > now + METER_EVENT_MAX_FUTURE) {
      throw parameterInvalid(
        'timestamp',
        'Timestamp must be within the past 35 calendar days or up to 5 minutes in the future.',
        'timestamp_outside_window',
      );
    }
    if (input.payload.value !== undefined && !/^-?\d+(\.\d+)?$/.test(input.payload.value)) {
      throw parameterInvalid(
        'payload[value]',
        `Invalid value in payload: '${input.payload.value}' is not a number.`,
      );
    }
    const identifier = input.identifier ?? randomUUID();
    const existing = this.meterEvents.get(identifier);
    if (existing) {
      this.meterEventDuplicates++;
      return existing;
    }
    const event = {
      object: 'billing.meter_event' as const,
      created: now,
      event_name: input.eventName,
      identifier,
      livemode: false,
      payload: { ...input.payload },
      timestamp,
    } satisfies Stripe.Billing.MeterEvent;
    this.meterEvents.set(identifier, event);
    return event;
  }
}
