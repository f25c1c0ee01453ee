import { type Database, type SyncCursor, syncCursors } from '@billing/db';
import { eq, sql } from 'drizzle-orm';

export const cursorId = (resource: string, account: string | null) =>
  account ? `${resource}:${account}` : resource;

export async function readCursor(db: Database, id: string): Promise<SyncCursor | undefined> {
  const [row] = await db.select().from(syncCursors).where(eq(syncCursors.id, id));
  return row;
}

/** Starts (or restarts) a run: status running, counters as given. */
export async function startCursor(
  db: Database,
  values: {
    id: string;
    resource: string;
    cursor: string | null;
    processed: number;
    drifted: number;
    report: unknown;
    startedAt: Date;
  },
): Promise<void> {
  const row = {
    ...values,
    status: 'running' as const,
    error: null,
    updatedAt: new Date(),
    finishedAt: null,
  };
  await db
    .insert(syncCursors)
    .values(row)
    .onConflictDoUpdate({
      target: syncCursors.id,
      set: {
        resource: sql`excluded.resource`,
        status: sql`excluded.status`,
        cursor: sql`excluded.cursor`,
        processed: sql`excluded.processed`,
        drifted: sql`excluded.drifted`,
        report: sql`excluded.report`,
        error: sql`excluded.error`,
        startedAt: sql`excluded.started_at`,
        updatedAt: sql`excluded.updated_at`,
        finishedAt: sql`excluded.finished_at`,
      },
    });
}

export async function saveCursor(
  db: Database,
  id: string,
  values: Partial<
    Pick<
      SyncCursor,
      'cursor' | 'processed' | 'drifted' | 'report' | 'status' | 'error' | 'finishedAt'
    >
  >,
): Promise<void> {
  await db
    .update(syncCursors)
    .set({ ...values, updatedAt: new Date() })
    .where(eq(syncCursors.id, id));
}

export async function listCursors(db: Database): Promise<SyncCursor[]> {
  return db.select().from(syncCursors).orderBy(syncCursors.id);
}
