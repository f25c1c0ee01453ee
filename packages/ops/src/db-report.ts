import type { Sql } from '@billing/db';

export interface SlowStatement {
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  maxMs: number;
  rows: number;
  /** Billing tables the statement names. */
  tables: string[];
}

export interface StatementsSection {
  available: boolean;
  /** Why the statements are missing, and what to do about it. */
  message?: string;
  slowest: SlowStatement[];
}

export interface IndexUsage {
  table: string;
  index: string;
  scans: number;
  tuplesRead: number;
  tuplesFetched: number;
  sizeBytes: number;
  unique: boolean;
}

export interface TableSize {
  table: string;
  totalBytes: number;
  tableBytes: number;
  indexBytes: number;
  estimatedRows: number;
  seqScans: number;
  indexScans: number;
}

export interface DbReport {
  database: string;
  generatedAt: string;
  /** When the statistics were last reset (index scans count from then). */
  statsSince: string | null;
  statements: StatementsSection;
  indexUsage: IndexUsage[];
  /** Non-unique indexes never scanned since statsSince: candidates to drop. */
  unusedIndexes: IndexUsage[];
  tableSizes: TableSize[];
}

export interface DbReportOptions {
  /** Slowest statements to list (by mean time). Default 20. */
  limit?: number;
  /** Schema holding the billing tables. Default `public`. */
  schema?: string;
}

export const STATEMENTS_NOT_INSTALLED =
  'pg_stat_statements is not installed in this database: run `CREATE EXTENSION pg_stat_statements;` (and add it to shared_preload_libraries)';
export const STATEMENTS_NOT_LOADED =
  'pg_stat_statements is installed but not loaded: add it to shared_preload_libraries in postgresql.conf (on a managed Postgres, its parameter group / flags) and restart Postgres';

const num = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));
const escapeRegex = (value: string) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The database report: slowest statements touching the billing tables (pg_stat_statements),
 * index usage, unused indexes and table sizes. Read-only. Works without pg_stat_statements:
 * that section then says why it is empty and how to enable it.
 */
export async function dbReport(sql: Sql, options: DbReportOptions = {}): Promise<DbReport> {
  const schema = options.schema ?? 'public';
  const limit = options.limit ?? 20;

  const [meta] = await sql<{ database: string; stats_since: Date | null }[]>`
    select current_database() as database,
           (select stats_reset from pg_stat_database where datname = current_database()) as stats_since`;

  const tables = await sql<
    {
      table: string;
      total_bytes: string;
      table_bytes: string;
      index_bytes: string;
      estimated_rows: string;
      seq_scan: string | null;
      idx_scan: string | null;
    }[]
  >`
    select c.relname as table,
           pg_total_relation_size(c.oid) as total_bytes,
           pg_relation_size(c.oid) as table_bytes,
           pg_indexes_size(c.oid) as index_bytes,
           greatest(c.reltuples, 0)::bigint as estimated_rows,
           s.seq_scan, s.idx_scan
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_stat_user_tables s on s.relid = c.oid
    where n.nspname = ${schema} and c.relkind in ('r', 'p')
    order by pg_total_relation_size(c.oid) desc, c.relname`;
  const tableSizes: TableSize[] = tables.map((row) => ({
    table: row.table,
    totalBytes: num(row.total_bytes),
    tableBytes: num(row.table_bytes),
    indexBytes: num(row.index_bytes),
    estimatedRows: num(row.estimated_rows),
    seqScans: num(row.seq_scan),
    indexScans: num(row.idx_scan),
  }));

  const indexes = await sql<
    {
      table: string;
      index: string;
      idx_scan: string;
      idx_tup_read: string;
      idx_tup_fetch: string;
      size_bytes: string;
      unique: boolean;
    }[]
  >`
    select s.relname as table, s.indexrelname as index, s.idx_scan, s.idx_tup_read,
           s.idx_tup_fetch, pg_relation_size(s.indexrelid) as size_bytes,
           (i.indisunique or i.indisprimary) as unique
    from pg_stat_user_indexes s
    join pg_index i on i.indexrelid = s.indexrelid
    where s.schemaname = ${schema}
    order by s.idx_scan desc, s.relname, s.indexrelname`;
  const indexUsage: IndexUsage[] = indexes.map((row) => ({
    table: row.table,
    index: row.index,
    scans: num(row.idx_scan),
    tuplesRead: num(row.idx_tup_read),
    tuplesFetched: num(row.idx_tup_fetch),
    sizeBytes: num(row.size_bytes),
    unique: row.unique,
  }));
  const unusedIndexes = indexUsage
    .filter((index) => index.scans === 0 && !index.unique)
    .sort((a, b) => b.sizeBytes - a.sizeBytes || a.index.localeCompare(b.index));

  const statements = await slowStatements(
    sql,
    tableSizes.map((table) => table.table).filter((name) => !name.startsWith('__drizzle')),
    limit,
  );

  return {
    database: meta?.database ?? '',
    generatedAt: new Date().toISOString(),
    statsSince: meta?.stats_since ? meta.stats_since.toISOString() : null,
    statements,
    indexUsage,
    unusedIndexes,
    tableSizes,
  };
}

async function slowStatements(
  sql: Sql,
  tables: string[],
  limit: number,
): Promise<StatementsSection> {
  const [installed] = await sql<{ schema: string }[]>`
    select n.nspname as schema from pg_extension e
    join pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pg_stat_statements'`;
  if (!installed) return { available: false, message: STATEMENTS_NOT_INSTALLED, slowest: [] };
  if (tables.length === 0) return { available: true, slowest: [] };

  // Word-bounded, case-insensitive match of any billing table name in the statement text.
  const pattern = `\\m(${tables.map(escapeRegex).join('|')})\\M`;
  const view = `"${installed.schema.replaceAll('"', '""')}".pg_stat_statements`;
  try {
    const rows = await sql.unsafe<
      {
        query: string;
        calls: string;
        total_ms: number;
        mean_ms: number;
        max_ms: number;
        rows: string;
      }[]
    >(
      `select query, calls, total_exec_time as total_ms, mean_exec_time as mean_ms,
              max_exec_time as max_ms, rows
       from ${view}
       where dbid = (select oid from pg_database where datname = current_database())
         and query ~* $1
         and query !~* 'pg_stat_statements'
       order by mean_exec_time desc
       limit $2`,
      [pattern, limit],
    );
    const named = new RegExp(`\\b(${tables.map(escapeRegex).join('|')})\\b`, 'gi');
    return {
      available: true,
      slowest: rows.map((row) => ({
        query: row.query,
        calls: num(row.calls),
        totalMs: round(num(row.total_ms)),
        meanMs: round(num(row.mean_ms)),
        maxMs: round(num(row.max_ms)),
        rows: num(row.rows),
        tables: [...new Set([...row.query.matchAll(named)].map((m) => m[1]!.toLowerCase()))].sort(),
      })),
    };
  } catch (error) {
    const code = (error as { code?: string }).code;
    // 55000: "pg_stat_statements must be loaded via shared_preload_libraries".
    if (code === '55000' || /shared_preload_libraries/.test((error as Error).message)) {
      return { available: false, message: STATEMENTS_NOT_LOADED, slowest: [] };
    }
    // 42703: a pg_stat_statements older than Postgres 13's (no *_exec_time columns).
    if (code === '42703') {
      return {
        available: false,
        message:
          'pg_stat_statements is too old (Postgres 13 or later is needed for exec-time columns): run `ALTER EXTENSION pg_stat_statements UPDATE;`',
        slowest: [],
      };
    }
    throw error;
  }
}

const round = (value: number) => Math.round(value * 1000) / 1000;

/** The report as text for the CLI. */
export function formatDbReport(report: DbReport): string {
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  const lines: string[] = [];
  lines.push(`Database report for ${report.database} at ${report.generatedAt}`);
  lines.push(`(index statistics since ${report.statsSince ?? 'the database was created'})`);
  lines.push('', 'Slowest statements on billing tables (pg_stat_statements, by mean time):');
  if (!report.statements.available) lines.push(`  unavailable: ${report.statements.message}`);
  else if (report.statements.slowest.length === 0) lines.push('  none recorded yet');
  for (const s of report.statements.slowest) {
    lines.push(
      `  mean ${s.meanMs.toFixed(1)} ms  max ${s.maxMs.toFixed(1)} ms  calls ${s.calls}  total ${s.totalMs.toFixed(0)} ms  [${s.tables.join(', ')}]`,
      `    ${s.query.replace(/\s+/g, ' ').slice(0, 300)}`,
    );
  }
  lines.push('', 'Table sizes:');
  for (const t of report.tableSizes) {
    lines.push(
      `  ${t.table.padEnd(28)} total ${mb(t.totalBytes).padStart(12)}  indexes ${mb(t.indexBytes).padStart(12)}  ~${t.estimatedRows} rows  seq scans ${t.seqScans}  index scans ${t.indexScans}`,
    );
  }
  lines.push('', 'Index usage:');
  for (const i of report.indexUsage) {
    lines.push(`  ${`${i.table}.${i.index}`.padEnd(60)} scans ${i.scans}  size ${mb(i.sizeBytes)}`);
  }
  lines.push('', 'Unused indexes (non-unique, never scanned):');
  if (report.unusedIndexes.length === 0) lines.push('  none');
  for (const i of report.unusedIndexes) {
    lines.push(`  ${`${i.table}.${i.index}`.padEnd(60)} size ${mb(i.sizeBytes)}`);
  }
  return lines.join('\n');
}
