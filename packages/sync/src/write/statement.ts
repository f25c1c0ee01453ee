/**
 * THE stale-event guard (DESIGN invariant 3), for every synced table, as one multi-row
 * statement per table and batch. Statement texts are built once per table spec at start-up
 * (no SQL building per event); the rows travel as ONE jsonb parameter read with
 * `jsonb_to_recordset`, so a batch of any size is one round trip and one plan.
 *
 * Shape (per table `T` keyed by `key`):
 *
 *   with r as materialized (select * from jsonb_to_recordset($1::text::jsonb) as x(…)),
 *   upd as (update T as t set … from r
 *           where t.key = r.key
 *             and ((r.created, r.rank) > (t.created, t.rank)                  -- newer wins
 *                  or (r.force and (r.created, r.rank) = (t.created, t.rank)))  -- decided tie
 *           returning …),
 *   ins as (insert into T as t (…) select … from r
 *           where not exists (select 1 from T e where e.key = r.key) returning …)
 *   select 'applied' … from upd union all select 'applied' … from ins
 *   union all select 'tie' … from r join T t …   -- same (created, rank), another event
 *
 * UPDATE … FROM rather than INSERT … ON CONFLICT because the SET list needs input columns
 * that are not table columns (whether an optional field was given at all, whether a tie was
 * decided for this row). The insert of new rows cannot race another writer's insert: every
 * write holds the advisory lock of its customer (or of the object itself) for the whole
 * transaction, taken before this statement. All parts read the snapshot taken when the
 * statement started, so the 'tie' rows are exactly the rows the guard refused for an equal
 * key, and RETURNING's subqueries read the row as it was before the write.
 */

/** A column written from the input row. */
export interface ColumnSpec {
  /** Column name in the table (snake_case); also the input field unless `input` is given. */
  name: string;
  /** Postgres type of the input field (jsonb_to_recordset needs it). */
  type: string;
  /** SQL for the new value, over the input row `r`; default `r.<name>`. */
  value?: string;
  /**
   * `keep`: a null from the event never erases a stored value (`coalesce(new, stored)`).
   * `optional`: written only when the source knew it (input field `<name>__set`), else
   * the stored value stays.
   */
  mode?: 'keep' | 'optional';
  /** Written on insert only (e.g. nothing yet). */
}

export interface TableSpec {
  table: string;
  key: string;
  columns: readonly ColumnSpec[];
  /** Input-only fields used by `value` expressions (e.g. a price lookup key). */
  inputs?: readonly { name: string; type: string }[];
  /**
   * Returned for every applied row, over the written row `t` (pre-statement snapshot in
   * subqueries): the user whose cache to drop, and one extra value the writer needs.
   */
  userId: string;
  aux?: string;
}

/** The stamp columns every synced row carries, written from the input as they are. */
const STAMP: readonly ColumnSpec[] = [
  { name: 'account', type: 'text' },
  { name: 'livemode', type: 'boolean' },
  { name: 'last_event_id', type: 'text' },
  { name: 'last_event_created', type: 'timestamptz' },
  { name: 'last_event_rank', type: 'int' },
];

export interface GuardedStatement {
  spec: TableSpec;
  text: string;
  /** Input field names, in the order the rows are serialised. */
  fields: readonly string[];
}

const value = (c: ColumnSpec) => c.value ?? `r.${c.name}`;

/** Builds the guarded multi-row upsert of a table. Called once per table at module load. */
export function guardedUpsert(spec: TableSpec): GuardedStatement {
  const columns = [...spec.columns, ...STAMP];
  const optional = columns.filter((c) => c.mode === 'optional');
  const record = [
    `${spec.key} text`,
    ...columns.map((c) => `${c.name} ${c.type}`),
    ...(spec.inputs ?? []).map((i) => `${i.name} ${i.type}`),
    ...optional.map((c) => `${c.name}__set boolean`),
    'force boolean',
  ];
  const set = columns.map((c) => {
    if (c.mode === 'keep') return `${c.name} = coalesce(${value(c)}, t.${c.name})`;
    if (c.mode === 'optional')
      return `${c.name} = case when r.${c.name}__set then ${value(c)} else t.${c.name} end`;
    return `${c.name} = ${value(c)}`;
  });
  const newer =
    '(r.last_event_created, r.last_event_rank) > (t.last_event_created, t.last_event_rank)';
  const same =
    '(r.last_event_created, r.last_event_rank) = (t.last_event_created, t.last_event_rank)';
  const returning = `t.${spec.key} as key, ${spec.userId} as user_id, ${spec.aux ?? 'null::text'} as aux`;
  const text = `with r as materialized (
  select * from jsonb_to_recordset($1::text::jsonb) as x(${record.join(', ')})
), upd as (
  update ${spec.table} as t
  set synced_at = now(), ${set.join(', ')}
  from r
  where t.${spec.key} = r.${spec.key} and (${newer} or (r.force and ${same}))
  returning ${returning}
), ins as (
  insert into ${spec.table} as t (${spec.key}, ${columns.map((c) => c.name).join(', ')})
  select r.${spec.key}, ${columns.map(value).join(', ')} from r
  where not exists (select 1 from ${spec.table} as e where e.${spec.key} = r.${spec.key})
  order by r.${spec.key}
  returning ${returning}
)
select 'applied' as kind, key, user_id, aux, null::text as stored_event from upd
union all
select 'applied', key, user_id, aux, null from ins
union all
select 'tie', t.${spec.key}, null, null, t.last_event_id
from r join ${spec.table} as t on t.${spec.key} = r.${spec.key}
where not r.force and ${same} and t.last_event_id <> r.last_event_id`;
  return {
    spec,
    text,
    fields: [spec.key, ...columns.map((c) => c.name), ...(spec.inputs ?? []).map((i) => i.name)],
  };
}

export interface GuardedRow {
  kind: 'applied' | 'tie';
  key: string;
  user_id: string | null;
  aux: string | null;
  /** For a tie: the event that wrote the stored row. */
  stored_event: string | null;
}

/** Runs statements on the caller's transaction: text with $n parameters, rows back. */
export interface SqlRunner {
  query<T = Record<string, unknown>>(text: string, params: readonly unknown[]): Promise<T[]>;
}
