import type { Logger } from '@billing/logger';
import type { SyncResult, TieOutcome, WriteSource } from '../context.js';
import { normalizeCheckoutSession } from '../normalize/checkout-session.js';
import type { TieCandidate } from '../order/ties.js';
import { latestOf, type TieDecision } from '../order/winner.js';
import type { Refetcher, SyncFamily } from '../refetch.js';
import { lockKeyOf, MODELS, type Model, type Normalized, rankOf, WRITE_ORDER } from './models.js';
import type { GuardedRow, GuardedStatement, SqlRunner } from './statement.js';
import {
  BACKFILL_STATEMENT,
  ITEMS_STATEMENT,
  LINK_STATEMENT,
  LOCK_KEYS_STATEMENT,
  TIE_CANDIDATES_STATEMENT,
} from './tables.js';

/** One object to write: an event's `data.object`, or an object a backfill read from Stripe. */
export interface BatchWrite {
  family: SyncFamily | 'checkout_session';
  object: Record<string, unknown>;
  source: WriteSource;
  /** The event's `data.previous_attributes`: lets a same-second tie be decided from content. */
  previousAttributes?: Record<string, unknown> | null;
}

/** A Stripe re-read a batch wants before (or instead of) trusting payloads. */
export interface RefetchKey {
  family: SyncFamily;
  id: string;
  account: string | null;
}

export const refetchKeyOf = (k: RefetchKey) => `${k.family}:${k.account ?? ''}:${k.id}`;

export interface BatchOptions {
  logger: Logger;
  /** Stripe access for re-reads; without it ties are decided from content or deterministically. */
  refetcher?: Refetcher;
  /** STRIPE_REFETCH_OBJECTS: families whose objects are always re-read. */
  refetchAlways?: ReadonlySet<SyncFamily>;
  /** Re-read on a tie content cannot decide (default true when a refetcher exists). */
  refetchOnTie?: boolean;
}

interface Prepared {
  index: number;
  write: BatchWrite;
  model?: Model;
  n?: Normalized;
  error?: unknown;
}

interface Group {
  model: Model;
  key: string;
  members: Prepared[];
}

/** The writes of a batch, normalised and grouped per object, before any statement runs. */
export interface PreparedBatch {
  items: Prepared[];
  groups: Group[];
  /** Advisory lock keys of every write (customers, or objects without one). */
  lockKeys: string[];
  options: BatchOptions;
}

/** Thrown inside the transaction when a tie with a stored row needs a Stripe re-read. */
export class RefetchNeeded extends Error {
  constructor(readonly keys: RefetchKey[]) {
    super(`same-second tie needs a re-read of ${keys.length} object(s)`);
    this.name = 'RefetchNeeded';
  }
}

/** Re-reads fetched outside the transaction: the object, or null when Stripe has none (404). */
export type FreshObjects = ReadonlyMap<string, Record<string, unknown> | null>;

const canRefetchTies = (o: BatchOptions) => o.refetcher !== undefined && o.refetchOnTie !== false;

const stampOf = (n: Normalized, source: WriteSource): [number, number] => [
  source.created.getTime(),
  rankOf(n, source),
];

/**
 * Normalises every write (a payload that does not parse fails alone: `items[i].error`) and
 * groups them per object, outside any transaction.
 */
export function prepareBatch(writes: readonly BatchWrite[], options: BatchOptions): PreparedBatch {
  const items: Prepared[] = writes.map((write, index) => {
    try {
      if (write.family === 'checkout_session') {
        const s = normalizeCheckoutSession(write.object);
        return {
          index,
          write,
          n: {
            key: s.id,
            customerId: s.customerId,
            state: 0,
            livemode: undefined,
            fields: {},
            extra: { userId: s.userId },
          },
        };
      }
      const model = MODELS[write.family];
      return { index, write, model, n: model.normalize(write.object, write.source) };
    } catch (error) {
      return { index, write, error };
    }
  });
  const groups = new Map<string, Group>();
  const lockKeys = new Set<string>();
  for (const item of items) {
    if (!item.n) continue;
    if (!item.model) {
      if (item.n.customerId) lockKeys.add(`billing:customer:${item.n.customerId}`);
      continue;
    }
    lockKeys.add(lockKeyOf(item.model, item.n));
    const id = `${item.model.statement.spec.table}:${item.n.key}`;
    const group = groups.get(id) ?? { model: item.model, key: item.n.key, members: [] };
    group.members.push(item);
    groups.set(id, group);
  }
  return { items, groups: [...groups.values()], lockKeys: [...lockKeys], options };
}

const candidateOf = (p: Prepared): TieCandidate => ({
  eventId: p.write.source.eventId,
  type: p.write.source.eventType,
  object: p.write.object,
  previous: p.write.previousAttributes,
});

interface Chosen {
  group: Group;
  winner: Prepared;
  decision: TieDecision | 'single';
}

/** The write of each group that wins in memory: greatest (created, rank), ties by content. */
function chooseInMemory(group: Group): Chosen {
  let best: [number, number] = [-1, -1];
  let top: Prepared[] = [];
  for (const member of group.members) {
    const stamp = stampOf(member.n!, member.write.source);
    const cmp = stamp[0] - best[0] || stamp[1] - best[1];
    if (cmp > 0) {
      best = stamp;
      top = [member];
    } else if (cmp === 0) top.push(member);
  }
  if (top.length === 1) return { group, winner: top[0]!, decision: 'single' };
  const byId = new Map(top.map((p) => [p.write.source.eventId, p]));
  const { winner, decision } = latestOf(top.map(candidateOf));
  return { group, winner: byId.get(winner.eventId)!, decision };
}

/**
 * The Stripe re-reads the batch needs before its transaction: families always re-read
 * (STRIPE_REFETCH_OBJECTS), truncated entitlement lists, and ties inside the batch that
 * content cannot decide. Fetch them OUTSIDE the transaction and pass them to writeBatch.
 */
export function refetchesBefore(batch: PreparedBatch): RefetchKey[] {
  const o = batch.options;
  if (!o.refetcher) return [];
  const keys = new Map<string, RefetchKey>();
  for (const group of batch.groups) {
    const { winner, decision } = chooseInMemory(group);
    const family = group.model.family;
    const always = o.refetchAlways?.has(family) === true;
    const truncated = family === 'entitlements' && winner.n!.extra?.complete === false;
    if (always || truncated || (decision === 'undecidable' && canRefetchTies(o))) {
      const key = { family, id: group.key, account: winner.write.source.account };
      keys.set(refetchKeyOf(key), key);
    }
  }
  return [...keys.values()];
}

/** Re-reads outside any transaction. Errors (429, 5xx) propagate as they are. */
export async function fetchFresh(
  refetcher: Refetcher,
  keys: readonly RefetchKey[],
  into: Map<string, Record<string, unknown> | null> = new Map(),
): Promise<Map<string, Record<string, unknown> | null>> {
  await Promise.all(
    keys.map(async (k) => {
      into.set(refetchKeyOf(k), await refetcher.retrieve(k.family, k.id, k.account));
    }),
  );
  return into;
}

export interface BatchOutcome {
  /** One per write, in input order (failed items: undefined; see PreparedBatch.items). */
  results: (SyncResult | undefined)[];
  /** Every user whose billing state changed: invalidate after the commit. */
  userIds: Set<string>;
  /** Whether a price, product or plan changed (the cached catalogue). */
  catalogue: boolean;
  /** Ties by decision, for metrics. */
  ties: Record<TieOutcome, number>;
}

interface RowWrite {
  chosen: Chosen;
  /** The content written (the winner's, or Stripe's copy). */
  n: Normalized;
  source: WriteSource;
  force: boolean;
  tie?: TieOutcome;
  refetched: boolean;
}

function serialise(w: RowWrite): Record<string, unknown> {
  const row: Record<string, unknown> = { ...w.n.fields };
  for (const column of w.chosen.group.model.statement.spec.columns) {
    if (column.mode === 'optional') row[`${column.name}__set`] = row[column.name] !== undefined;
  }
  row.account = w.source.account;
  row.livemode = w.n.livemode ?? w.source.livemode;
  row.last_event_id = w.source.eventId;
  row.last_event_created = w.source.created;
  row.last_event_rank = rankOf(w.n, w.source);
  row.force = w.force;
  return row;
}

/**
 * Writes a prepared batch inside the caller's transaction (DESIGN invariants 3 and 9):
 *
 * 1. Lock every customer (or object) of the batch in one statement, sorted (unless the
 *    caller already did, e.g. in its claim statement).
 * 2. Per object, keep only the write that wins by (created, rank); same-second ties inside
 *    the batch are decided from content (order/ties.ts), else by a Stripe copy fetched
 *    before the transaction, else deterministically.
 * 3. Per table, ONE guarded multi-row statement (statement.ts). Rows refused for an equal
 *    key (a tie with the stored row) are decided the same way against every processed
 *    event of that second (webhook_events), and the winners written in a second statement.
 *    A tie that needs Stripe throws RefetchNeeded: the caller rolls back, re-reads outside
 *    the transaction and runs the batch again with the copies.
 * 4. Items of the subscriptions written, user links and back-fills, one statement each.
 */
export async function writeBatch(
  run: SqlRunner,
  batch: PreparedBatch,
  context: { fresh?: FreshObjects; locksHeld?: boolean } = {},
): Promise<BatchOutcome> {
  const o = batch.options;
  const fresh = context.fresh ?? new Map();
  const results: (SyncResult | undefined)[] = batch.items.map(() => undefined);
  const outcome: BatchOutcome = {
    results,
    userIds: new Set(),
    catalogue: false,
    ties: { content: 0, refetched: 0, undecidable: 0 },
  };
  if (!context.locksHeld && batch.lockKeys.length > 0)
    await run.query(LOCK_KEYS_STATEMENT, [batch.lockKeys]);

  // Writes superseded by a later write of the same batch: stale, nothing to run.
  const byStatement = new Map<GuardedStatement, RowWrite[]>();
  for (const group of batch.groups) {
    const chosen = chooseInMemory(group);
    for (const member of group.members) {
      if (member !== chosen.winner)
        results[member.index] = {
          outcome: 'stale',
          objectId: group.key,
          userIds: [],
          superseded: true,
        };
    }
    const w = rowWrite(chosen, fresh, o);
    const list = byStatement.get(group.model.statement) ?? [];
    list.push(w);
    byStatement.set(group.model.statement, list);
  }

  const checkouts = batch.items.filter((p) => p.n && !p.model);
  for (const statement of WRITE_ORDER) {
    const writes = byStatement.get(statement);
    if (writes) await writeTable(run, statement, writes, fresh, o, outcome);
    if (statement.spec.table === 'customers' && checkouts.length > 0)
      await linkCheckouts(run, checkouts, o, outcome);
  }
  return outcome;
}

function rowWrite(chosen: Chosen, fresh: FreshObjects, o: BatchOptions): RowWrite {
  const { group, winner } = chosen;
  const source = winner.write.source;
  const key = refetchKeyOf({ family: group.model.family, id: group.key, account: source.account });
  const copy = fresh.get(key);
  // A copy read for anything but a tie: the family is always re-read, or the list truncated.
  const readAnyway =
    o.refetchAlways?.has(group.model.family) === true ||
    (group.model.family === 'entitlements' && winner.n!.extra?.complete === false);
  const tie: TieOutcome | undefined =
    copy && !readAnyway ? 'refetched' : chosen.decision === 'single' ? undefined : chosen.decision;
  if (copy) {
    return {
      chosen,
      n: group.model.fromStripe(copy, winner.n!, source),
      source,
      // Stripe's copy is at least as new as every event of this second: it wins a tie.
      force: true,
      tie,
      refetched: true,
    };
  }
  // No copy, or gone from Stripe (404): the payload is the last state there is.
  return { chosen, n: winner.n!, source, force: false, tie, refetched: false };
}

async function writeTable(
  run: SqlRunner,
  statement: GuardedStatement,
  writes: RowWrite[],
  fresh: FreshObjects,
  o: BatchOptions,
  outcome: BatchOutcome,
): Promise<void> {
  writes.sort((a, b) => (a.n.key < b.n.key ? -1 : a.n.key > b.n.key ? 1 : 0));
  const rows = await run.query<GuardedRow>(statement.text, [JSON.stringify(writes.map(serialise))]);
  const byKey = new Map(writes.map((w) => [w.n.key, w]));
  const applied = new Map<string, GuardedRow>();
  const ties: { w: RowWrite; stored: string }[] = [];
  for (const row of rows) {
    const w = byKey.get(row.key);
    if (!w) continue;
    if (row.kind === 'applied') applied.set(row.key, row);
    else ties.push({ w, stored: row.stored_event ?? '' });
  }

  // Ties with the stored row: decide against every processed event of that second.
  const rewrites: RowWrite[] = [];
  if (ties.length > 0) {
    const decided = await decideStoredTies(run, ties, o);
    const needed: RefetchKey[] = [];
    for (const { w, stored, winner, decision } of decided) {
      const family = w.chosen.group.model.family;
      const key = { family, id: w.n.key, account: w.source.account };
      if (decision === 'undecidable' && canRefetchTies(o) && !fresh.has(refetchKeyOf(key))) {
        needed.push(key);
        continue;
      }
      if (decision !== 'single') w.tie = decision;
      if (winner === undefined || winner.eventId === stored) continue;
      // The winner is the batch's write, or (rarely) another event of that second.
      const model = w.chosen.group.model;
      const source: WriteSource =
        winner.eventId === w.source.eventId
          ? w.source
          : { ...w.source, eventId: winner.eventId, eventType: winner.type };
      const n = winner.eventId === w.source.eventId ? w.n : model.normalize(winner.object, source);
      rewrites.push({ ...w, n, source, force: true });
    }
    if (needed.length > 0) throw new RefetchNeeded(needed);
  }
  if (rewrites.length > 0) {
    const again = await run.query<GuardedRow>(statement.text, [
      JSON.stringify(rewrites.map(serialise)),
    ]);
    for (const row of again) if (row.kind === 'applied') applied.set(row.key, row);
  }

  await afterTable(run, statement, writes, applied, o, outcome);
}

interface StoredTie {
  w: RowWrite;
  stored: string;
  winner?: TieCandidate;
  decision: TieDecision | 'single';
}

async function decideStoredTies(
  run: SqlRunner,
  ties: { w: RowWrite; stored: string }[],
  o: BatchOptions,
): Promise<StoredTie[]> {
  const rows = await run.query<{
    event_id: string;
    type: string;
    object_id: string;
    payload: { data?: { object?: Record<string, unknown>; previous_attributes?: unknown } };
  }>(TIE_CANDIDATES_STATEMENT, [
    ties.map((t) => t.w.n.key),
    ties.map((t) => t.w.source.created.toISOString()),
  ]);
  return ties.map(({ w, stored }) => {
    const model = w.chosen.group.model;
    const rank = rankOf(w.n, w.source);
    const candidates: TieCandidate[] = [candidateOf(w.chosen.winner)];
    for (const row of rows) {
      if (row.object_id !== w.n.key) continue;
      const object = row.payload?.data?.object;
      if (!object) continue;
      const source = { ...w.source, eventId: row.event_id, eventType: row.type };
      try {
        if (rankOf(model.normalize(object, source), source) !== rank) continue;
      } catch {
        continue;
      }
      const previous = row.payload.data?.previous_attributes;
      candidates.push({
        eventId: row.event_id,
        type: row.type,
        object,
        previous:
          previous && typeof previous === 'object' ? (previous as Record<string, unknown>) : null,
      });
    }
    if (!candidates.some((c) => c.eventId === stored)) {
      // The stored write came from no event we hold (a backfill): the later arrival wins, as before.
      o.logger.debug({ objectId: w.n.key, stored }, 'tie with a write of no stored event');
      return { w, stored, winner: candidates[0], decision: 'single' as const };
    }
    const { winner, decision } = latestOf(candidates);
    return { w, stored, winner, decision };
  });
}

async function afterTable(
  run: SqlRunner,
  statement: GuardedStatement,
  writes: RowWrite[],
  applied: Map<string, GuardedRow>,
  o: BatchOptions,
  outcome: BatchOutcome,
): Promise<void> {
  const table = statement.spec.table;
  const changedLinks: [string, string][] = [];
  const subscriptionLinks: { w: RowWrite; userId: string }[] = [];
  for (const w of writes) {
    const row = applied.get(w.n.key);
    const index = w.chosen.winner.index;
    if (w.tie) outcome.ties[w.tie] += 1;
    if (w.tie === 'undecidable') {
      o.logger.warn(
        { family: w.chosen.group.model.family, objectId: w.n.key, eventId: w.source.eventId },
        'same-second tie undecidable from content: picked deterministically',
      );
    }
    if (!row) {
      outcome.results[index] = {
        outcome: 'stale',
        objectId: w.n.key,
        userIds: [],
        tie: w.tie,
        refetched: w.refetched,
      };
      continue;
    }
    const userIds: string[] = row.user_id ? [row.user_id] : [];
    if (table === 'customers' && row.user_id && row.user_id !== row.aux)
      changedLinks.push([w.n.key, row.user_id]);
    if (table === 'subscriptions') {
      const named = w.n.extra?.userId;
      if (named) {
        if (!row.aux) subscriptionLinks.push({ w, userId: named });
        else if (row.aux !== named)
          o.logger.warn(
            { customerId: w.n.customerId, eventId: w.source.eventId },
            'customer already linked to another user; link not changed',
          );
      }
    }
    if (table === 'prices' || table === 'products') outcome.catalogue = true;
    for (const id of userIds) outcome.userIds.add(id);
    outcome.results[index] = {
      outcome: 'applied',
      objectId: w.n.key,
      userIds,
      tie: w.tie,
      refetched: w.refetched,
    };
  }
  if (changedLinks.length > 0) {
    await run.query(BACKFILL_STATEMENT, [
      changedLinks.map(([customerId]) => customerId),
      changedLinks.map(([, userId]) => userId),
    ]);
  }
  if (table === 'subscriptions') {
    const written = writes.filter((w) => applied.has(w.n.key));
    if (written.length > 0) await replaceItems(run, written);
    if (subscriptionLinks.length > 0) {
      const linked = await link(
        run,
        subscriptionLinks.map(({ w, userId }) => ({
          customer_id: w.n.customerId,
          user_id: userId,
          account: w.source.account,
          livemode: w.n.livemode ?? w.source.livemode,
          event_id: w.source.eventId,
        })),
        o,
      );
      for (const { w, userId } of subscriptionLinks) {
        if (linked.get(w.n.customerId!) !== 'linked') continue;
        outcome.userIds.add(userId);
        const result = outcome.results[w.chosen.winner.index];
        if (result && !result.userIds.includes(userId)) result.userIds.push(userId);
      }
    }
  }
}

async function replaceItems(run: SqlRunner, written: RowWrite[]): Promise<void> {
  const items: Record<string, unknown>[] = [];
  const subs: { id: string; complete: boolean }[] = [];
  for (const w of written) {
    const stamp = {
      account: w.source.account,
      livemode: w.n.livemode ?? w.source.livemode,
      last_event_id: w.source.eventId,
      last_event_created: w.source.created,
      last_event_rank: rankOf(w.n, w.source),
    };
    const list = w.n.extra?.items ?? [];
    const complete = w.n.extra?.itemsComplete !== false;
    // Nothing listed and the list truncated: nothing to upsert and nothing may be deleted.
    if (list.length === 0 && !complete) continue;
    subs.push({ id: w.n.key, complete });
    for (const item of list) items.push({ ...item, ...stamp });
  }
  if (subs.length === 0) return;
  await run.query(ITEMS_STATEMENT, [JSON.stringify(items), JSON.stringify(subs)]);
}

type LinkOutcome = 'linked' | 'already-linked' | 'conflict';

async function link(
  run: SqlRunner,
  links: Record<string, unknown>[],
  o: BatchOptions,
): Promise<Map<string, LinkOutcome>> {
  const rows = await run.query<{ customer_id: string; user_id: string | null; linked: boolean }>(
    LINK_STATEMENT,
    [JSON.stringify(links)],
  );
  const wanted = new Map(links.map((l) => [l.customer_id as string, l]));
  const out = new Map<string, LinkOutcome>();
  for (const row of rows) {
    const asked = wanted.get(row.customer_id);
    if (row.linked) out.set(row.customer_id, 'linked');
    else if (row.user_id === asked?.user_id) out.set(row.customer_id, 'already-linked');
    else {
      out.set(row.customer_id, 'conflict');
      o.logger.warn(
        { customerId: row.customer_id, eventId: asked?.event_id },
        'customer already linked to another user; link not changed',
      );
    }
  }
  return out;
}

/**
 * `checkout.session.completed`: links the session's customer to the app user it names. A
 * session without a customer or a user (a guest payment) has nothing to link: ignored.
 */
async function linkCheckouts(
  run: SqlRunner,
  checkouts: Prepared[],
  o: BatchOptions,
  outcome: BatchOutcome,
): Promise<void> {
  const linkable = checkouts.filter((p) => p.n!.customerId && p.n!.extra?.userId);
  for (const p of checkouts) {
    if (!linkable.includes(p))
      outcome.results[p.index] = { outcome: 'ignored', objectId: p.n!.key, userIds: [] };
  }
  if (linkable.length === 0) return;
  const linked = await link(
    run,
    linkable.map((p) => ({
      customer_id: p.n!.customerId,
      user_id: p.n!.extra!.userId,
      account: p.write.source.account,
      livemode: p.write.source.livemode,
      event_id: p.write.source.eventId,
    })),
    o,
  );
  for (const p of linkable) {
    const result = linked.get(p.n!.customerId!) ?? 'conflict';
    const userId = p.n!.extra!.userId!;
    // Two sessions of one batch linking the same customer: the statement saw one of them.
    const mine = result === 'linked' && !outcome.userIds.has(userId) ? 'linked' : result;
    if (mine === 'linked') outcome.userIds.add(userId);
    outcome.results[p.index] = {
      outcome: result === 'conflict' ? 'stale' : 'applied',
      objectId: p.n!.key,
      userIds: mine === 'linked' ? [userId] : [],
    };
  }
}
