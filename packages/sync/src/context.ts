import type { schema } from '@billing/db';
import type { Logger } from '@billing/logger';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { PostgresJsQueryResultHKT } from 'drizzle-orm/postgres-js';
import type { Refetcher, SyncFamily } from './refetch.js';

/** A Drizzle database or an open transaction over it: the writers run inside the caller's transaction. */
export type Executor = PgDatabase<
  PostgresJsQueryResultHKT,
  typeof schema,
  ExtractTablesWithRelations<typeof schema>
>;

/**
 * What produced a write: a webhook event, or a backfill reading the object from Stripe.
 * `(created, rank)` orders writes (DESIGN invariant 3); the rank is derived by the writer
 * from `eventType` and the object's status (see rank.ts).
 */
export interface WriteSource {
  /** The event id, or e.g. `backfill:2025-01-01T00:00:00.000Z` for a backfill. */
  eventId: string;
  /** The event type; null for a backfill. */
  eventType: string | null;
  /** `event.created`; for a backfill, the time the object was read from Stripe. */
  created: Date;
  /** The connected account (`event.account`), null for the platform. */
  account: string | null;
  livemode: boolean;
}

export interface SyncContext {
  tx: Executor;
  logger: Logger;
  /** Stripe access. Without it an exact tie is resolved last-arrival-wins. */
  refetcher?: Refetcher;
  /** Object families always re-read from Stripe instead of trusting the payload (STRIPE_REFETCH_OBJECTS). */
  refetchAlways?: ReadonlySet<SyncFamily>;
  /** Re-fetch on an exact tie when a refetcher exists (default true). */
  refetchOnTie?: boolean;
  /**
   * The customer whose lock (`customerLockSql`) the caller already took in this transaction;
   * a writer about that customer then skips its own lock statement. Any other customer is
   * locked by the writer as usual.
   */
  lockedCustomerId?: string;
}

/**
 * How a same-second tie (same created, same rank, another event) was settled: from the
 * events' content, by Stripe's current copy, or deterministically when neither could decide.
 */
export type TieOutcome = 'content' | 'refetched' | 'undecidable';

export interface SyncResult {
  /** `applied`: the row changed; `stale`: a newer write was already stored; `ignored`: nothing to write. */
  outcome: 'applied' | 'stale' | 'ignored';
  objectId: string | null;
  /** App users whose billing state this write changed: invalidate their cache after commit. */
  userIds: string[];
  /** Set when this write met an exact (created, rank) tie with another event. */
  tie?: TieOutcome;
  /** A later write about the same object in the same batch won: this one was not written. */
  superseded?: boolean;
  /** True when the object was read from Stripe instead of taken from the payload. */
  refetched?: boolean;
}
