import { resourceMissing } from '../errors.js';
import type { ListParams, Params } from '../params.js';
import type { ChangeContext, FakeStripeState } from '../state.js';

/**
 * How the fake's routes are declared and answered: a route table entry per Stripe endpoint,
 * Stripe's cursor pagination over newest-first lists, and `expand[]`.
 */

type Json = Record<string, unknown>;

export interface RouteContext {
  params: Params;
  path: Record<string, string>;
  change: ChangeContext;
  state: FakeStripeState;
}

export type Handler = (context: RouteContext) => unknown;

export interface Route {
  method: string;
  /** `/v1/customers/:id`: with the method, the key of its allowed parameters. */
  template: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

export const route = (method: string, template: string, handler: Handler): Route => {
  const names: string[] = [];
  const source = template.replace(/:(\w+)/g, (_match, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { method, template, pattern: new RegExp(`^${source}$`), names, handler };
};

interface Ordered {
  id: string;
  created?: number;
}

/** Stripe's cursor pagination over a filtered, newest-first list. */
export function paginate<T extends Ordered>(
  state: FakeStripeState,
  items: Iterable<T>,
  filter: (item: T) => boolean,
  page: ListParams,
  url: string,
  kind: string,
): { object: 'list'; data: T[]; has_more: boolean; url: string } {
  // The cursor is located in the unfiltered list, so a cursor that a filter would hide
  // still marks a position (as at Stripe); an id that is not in the collection is a 400.
  const ordered = state.sorted(items);
  const cursorId = page.startingAfter ?? page.endingBefore;
  let data: T[];
  let hasMore: boolean;
  if (cursorId) {
    const at = ordered.findIndex((item) => item.id === cursorId);
    if (at === -1) {
      throw resourceMissing(
        kind,
        cursorId,
        page.startingAfter ? 'starting_after' : 'ending_before',
      );
    }
    if (page.startingAfter) {
      // Newest first: "after" the cursor means older than it.
      const rest = ordered.slice(at + 1).filter(filter);
      data = rest.slice(0, page.limit);
      hasMore = rest.length > page.limit;
    } else {
      const newer = ordered.slice(0, at).filter(filter);
      data = newer.slice(Math.max(0, newer.length - page.limit));
      hasMore = newer.length > page.limit;
    }
  } else {
    const all = ordered.filter(filter);
    data = all.slice(0, page.limit);
    hasMore = all.length > page.limit;
  }
  return { object: 'list', data, has_more: hasMore, url };
}

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Replaces id strings on `expand[]` paths (`customer`, `data.product`, `items.data.price.product`) by the objects. */
export function expand<T>(state: FakeStripeState, body: T, paths: string[]): T {
  if (paths.length === 0) return body;
  const copy = structuredClone(body);
  const walk = (target: unknown, segments: string[]): void => {
    if (Array.isArray(target)) {
      for (const entry of target) walk(entry, segments);
      return;
    }
    const [head, ...rest] = segments;
    if (!isObject(target) || head === undefined) return;
    const value = target[head];
    if (typeof value === 'string') {
      const found = state.find(value);
      if (found) target[head] = structuredClone(found);
    }
    if (rest.length > 0) walk(target[head], rest);
  };
  for (const path of paths) walk(copy, path.split('.'));
  return copy;
}
