import {
  type BackoffOptions,
  isRateLimited,
  RateLimitExhaustedError,
  rateLimitDelayMs,
  sleep,
} from '../rate-limit.js';

/** A Stripe list call: `starting_after` continues after an object id. */
export type Lister<T> = (params: { limit: number; starting_after?: string }) => AsyncIterable<T>;

export interface PageThroughOptions<T> {
  list: Lister<T>;
  /** Resume after this object id (a stored cursor). */
  startingAfter?: string | null;
  /** Objects per Stripe page (max 100). */
  pageSize?: number;
  /** Objects of one page handled at once. Default 1. */
  concurrency?: number;
  backoff?: BackoffOptions;
  /**
   * Handles one object. `readAt` is when the request that returned the object's page
   * started: the object is at least that fresh.
   */
  onItem: (item: T, readAt: Date) => Promise<void>;
  /**
   * Called after each page with the cursor reached and the objects handled up to it
   * (persist them), and once at the end.
   */
  onCheckpoint?: (cursor: string | null, items: number) => Promise<void>;
}

export type PageThroughResult =
  | { status: 'complete'; cursor: string | null; items: number }
  | { status: 'incomplete'; cursor: string | null; items: number; error: Error };

/**
 * Walks a Stripe list with the client's auto-pagination, one page at a time: the objects of
 * a page are handled (up to `concurrency` at once), then the cursor moves to the page's last
 * object. A 429 that the client did not absorb ends the iterator; the walk then waits
 * (exponential backoff with jitter, at least Retry-After) and starts a new listing after the
 * cursor. Only consecutive 429s without progress count against `maxRetries`; when they run
 * out the walk stops as incomplete with its cursor, so a later run resumes there. Any other
 * error stops it too. (A page interrupted half-way is handled again on resume: the writes
 * are idempotent.)
 */
export async function pageThrough<T extends { id: string }>(
  options: PageThroughOptions<T>,
): Promise<PageThroughResult> {
  const pageSize = options.pageSize ?? 100;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const maxRetries = options.backoff?.maxRetries ?? 6;
  const wait = options.backoff?.sleep ?? sleep;
  let cursor = options.startingAfter ?? null;
  let items = 0;
  let attempt = 0;

  const handlePage = async (page: T[], readAt: Date) => {
    let failure: unknown;
    let next = 0;
    const lane = async () => {
      while (next < page.length && failure === undefined) {
        const item = page[next++]!;
        try {
          await options.onItem(item, readAt);
        } catch (error) {
          failure ??= error;
        }
      }
    };
    // Every lane settles before the page counts as done or failed: nothing keeps writing
    // behind the checkpoint.
    await Promise.all(Array.from({ length: Math.min(concurrency, page.length) }, lane));
    if (failure !== undefined) throw failure;
    cursor = page[page.length - 1]!.id;
    items += page.length;
    attempt = 0;
    await options.onCheckpoint?.(cursor, items);
  };

  for (;;) {
    const params = cursor ? { limit: pageSize, starting_after: cursor } : { limit: pageSize };
    try {
      const iterator = options.list(params)[Symbol.asyncIterator]();
      let page: T[] = [];
      let readAt = new Date();
      for (;;) {
        // Auto-pagination fetches a page on the call that needs its first item.
        const before = new Date();
        const next = await iterator.next();
        if (next.done) break;
        if (page.length === 0) readAt = before;
        page.push(next.value);
        if (page.length === pageSize) {
          await handlePage(page, readAt);
          page = [];
        }
      }
      if (page.length > 0) await handlePage(page, readAt);
      await options.onCheckpoint?.(cursor, items);
      return { status: 'complete', cursor, items };
    } catch (error) {
      if (!isRateLimited(error)) {
        await options.onCheckpoint?.(cursor, items);
        return { status: 'incomplete', cursor, items, error: error as Error };
      }
      attempt++;
      if (attempt > maxRetries) {
        await options.onCheckpoint?.(cursor, items);
        return {
          status: 'incomplete',
          cursor,
          items,
          error: new RateLimitExhaustedError(attempt, { cause: error }),
        };
      }
      const delayMs = rateLimitDelayMs(attempt, error, options.backoff);
      options.backoff?.onRetry?.({ attempt, delayMs, error });
      await wait(delayMs);
    }
  }
}
