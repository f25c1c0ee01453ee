import { invalidRequest, parameterMissing } from '../errors.js';
import { int, object, requiredStr, str } from '../params.js';
import { type Route, route } from './routing.js';

/** `/v1/billing/meter_events`: record (identifier unique, timestamp window). */
export const meterEventRoutes: Route[] = [
  route('POST', '/v1/billing/meter_events', ({ params, state }) => {
    const payload = object(params, 'payload');
    if (!payload) throw parameterMissing('payload');
    const values: Record<string, string> = {};
    for (const [key, value] of Object.entries(payload)) {
      if (typeof value !== 'string')
        throw invalidRequest(`Invalid payload[${key}]: must be a string.`, `payload[${key}]`);
      values[key] = value;
    }
    return state.recordMeterEvent({
      eventName: requiredStr(params, 'event_name'),
      payload: values,
      identifier: str(params, 'identifier') || undefined,
      timestamp: int(params, 'timestamp'),
    });
  }),
];
