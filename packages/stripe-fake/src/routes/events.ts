import { invalidRequest, resourceMissing } from '../errors.js';
import { bool, listParams, rangeFilter, str, stringList } from '../params.js';
import { paginate, type Route, route } from './routing.js';

const typeMatches = (pattern: string, type: string): boolean =>
  pattern.endsWith('.*') ? type.startsWith(pattern.slice(0, -1)) : pattern === type;

/** `/v1/events`: retrieve, list (`type` with `.*`, `types[]`, `created`, `delivery_success`). */
export const eventRoutes: Route[] = [
  route('GET', '/v1/events/:id', ({ path, state }) => {
    const event = state.events.get(path.id!);
    if (!event) throw resourceMissing('event', path.id!);
    return event;
  }),
  route('GET', '/v1/events', ({ params, state }) => {
    const type = str(params, 'type');
    const types = stringList(params, 'types');
    if (type && types)
      throw invalidRequest('You may only specify one of these parameters: type, types.');
    const deliverySuccess = bool(params, 'delivery_success');
    const created = rangeFilter(params, 'created');
    return paginate(
      state,
      state.events.values(),
      (event) =>
        (type === undefined || typeMatches(type, event.type)) &&
        (!types || types.some((pattern) => typeMatches(pattern, event.type))) &&
        (deliverySuccess === undefined ||
          state.failedDeliveries.has(event.id) !== deliverySuccess) &&
        (!created || created(event.created)),
      listParams(params),
      '/v1/events',
      'event',
    );
  }),
];
