/**
 * A claim broken on purpose, in a drill's database only: the proof that the drills'
 * detectors (support.ts) can fail. Nothing here exists in production code; it is installed
 * as triggers on `webhook_events` of a test database, so it breaks whichever worker claims
 * through that table, one event or a batch per statement.
 *
 * - `reapply`: an event already processed or ignored is claimed again, as if the claim's
 *   "not done yet" guard were gone. A BEFORE INSERT trigger deletes the done row, so the
 *   claim's INSERT finds no conflict and the handler runs a second time.
 * - `drop`: a new event's claim is skipped (the BEFORE INSERT trigger returns NULL): the
 *   claim returns no row, the worker takes the event for a duplicate and applies nothing.
 * - `ignore`: a claim that marks an event `processed` is turned into `ignored`.
 *
 * Only events whose id matches `pattern` (SQL LIKE) and whose hash puts them in one of
 * `everyNth` buckets are broken, and each one the breaker touched is written to
 * `drill_broken`, so a test can compare what a detector flagged with what was broken.
 */
import type postgres from 'postgres';

export type ClaimBreak = 'reapply' | 'drop' | 'ignore';

export interface BreakOptions {
  /** SQL LIKE pattern of the event ids to break. */
  pattern: string;
  /** Break one event in this many (by a hash of its id). Default 1: all matching. */
  everyNth?: number;
}

const FUNCTION_BODIES: Record<ClaimBreak, string> = {
  reapply: `
    if exists (select 1 from webhook_events
               where event_id = new.event_id and status in ('processed', 'ignored')) then
      delete from webhook_events where event_id = new.event_id;
      insert into drill_broken (event_id, mode) values (new.event_id, 'reapply');
    end if;
    return new;`,
  drop: `
    if not exists (select 1 from webhook_events where event_id = new.event_id) then
      insert into drill_broken (event_id, mode) values (new.event_id, 'drop');
      return null;
    end if;
    return new;`,
  ignore: `
    if new.status = 'processed' then
      new.status := 'ignored';
      insert into drill_broken (event_id, mode) values (new.event_id, 'ignore');
    end if;
    return new;`,
};

/** Installs one breaker (replacing any other) for the events `options` selects. */
export async function breakClaim(
  sql: postgres.Sql,
  mode: ClaimBreak,
  options: BreakOptions,
): Promise<void> {
  const everyNth = options.everyNth ?? 1;
  if (!Number.isInteger(everyNth) || everyNth < 1) throw new Error('everyNth: a positive integer');
  await restoreClaim(sql);
  await sql.unsafe(`
    create table if not exists drill_broken (
      event_id text not null,
      mode text not null,
      at timestamptz not null default clock_timestamp()
    )`);
  // The pattern and modulus are literals of the function body: a trigger function takes no
  // query parameters. format(%L) quotes them.
  const [row] = await sql<{ body: string }[]>`
    select format(
      $f$create function drill_break_claim() returns trigger language plpgsql as $b$
        begin
          if new.event_id not like %L or abs(hashtext(new.event_id)) %% %s <> 0 then
            return new;
          end if;
          %s
        end $b$$f$,
      ${options.pattern}::text, ${everyNth}::int, ${FUNCTION_BODIES[mode]}::text) as body`;
  await sql.unsafe(row!.body);
  const events = mode === 'ignore' ? 'insert or update' : 'insert';
  await sql.unsafe(`
    create trigger drill_break_claim before ${events} on webhook_events
      for each row execute function drill_break_claim()`);
}

/** Removes the breaker: the claim is the real one again. */
export async function restoreClaim(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(`
    drop trigger if exists drill_break_claim on webhook_events;
    drop function if exists drill_break_claim();`);
}

/** The events the breaker touched, by mode. */
export async function brokenEvents(sql: postgres.Sql, mode: ClaimBreak): Promise<string[]> {
  const rows = await sql<{ event_id: string }[]>`
    select distinct event_id from drill_broken where mode = ${mode} order by event_id`;
  return rows.map((r) => r.event_id);
}
