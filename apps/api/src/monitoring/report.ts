import type { Sql } from '@billing/db';
import { addHistogram, quantile } from './histogram.js';
import { type LatencyTargets, targetFor } from './targets.js';

export const WINDOWS = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const;
export type ReportWindow = keyof typeof WINDOWS;

export interface Figures {
  requests: number;
  successRate: number | null;
  serverErrors: number;
  clientErrors: number;
  avgMs: number | null;
  p95Ms: number | null;
  minMs: number | null;
  maxMs: number | null;
  slow: number;
  targetMs: number | null;
}

export interface PerformanceReport {
  window: ReportWindow;
  from: string;
  to: string;
  overall: Figures;
  endpoints: (Figures & { method: string; endpoint: string })[];
  recentSlow: {
    occurredAt: string;
    method: string;
    endpoint: string;
    durationMs: number;
    targetMs: number;
    statusCode: number;
  }[];
}

interface Totals {
  requests: number;
  errors: number;
  clientErrors: number;
  slow: number;
  totalMs: number;
  minMs: number;
  maxMs: number;
  histogram: number[];
}

function figures(t: Totals, targetMs: number | null): Figures {
  const ok = t.requests - t.errors - t.clientErrors;
  return {
    requests: t.requests,
    successRate: t.requests > 0 ? Math.round((ok / t.requests) * 10_000) / 10_000 : null,
    serverErrors: t.errors,
    clientErrors: t.clientErrors,
    avgMs: t.requests > 0 ? Math.round((t.totalMs / t.requests) * 10) / 10 : null,
    p95Ms: t.requests > 0 ? quantile(t.histogram, 0.95, { min: t.minMs, max: t.maxMs }) : null,
    minMs: t.requests > 0 ? t.minMs : null,
    maxMs: t.requests > 0 ? t.maxMs : null,
    slow: t.slow,
    targetMs,
  };
}

/**
 * Per-endpoint and overall figures for a window, from the per-minute `api_metrics` rows:
 * sums, min/max, and p95 from the summed latency-bucket counts. Three statements, all on the
 * `(bucket_start, …)` primary key or `performance_issues_occurred_at_idx`.
 */
export async function performanceReport(
  sql: Sql,
  window: ReportWindow,
  targets: LatencyTargets,
  nowMs: number,
): Promise<PerformanceReport> {
  const from = new Date(nowMs - WINDOWS[window]);
  // As a string: the Drizzle instance sharing this client passes timestamp parameters through raw.
  const fromIso = from.toISOString();
  const [rows, buckets, slow] = await Promise.all([
    sql<
      {
        method: string;
        endpoint: string;
        requests: string;
        errors: string;
        client_errors: string;
        slow: string;
        total_ms: string;
        min_ms: number;
        max_ms: number;
      }[]
    >`
      select method, endpoint, sum(requests)::text as requests, sum(errors)::text as errors,
             sum(client_errors)::text as client_errors, sum(slow)::text as slow,
             sum(total_ms)::text as total_ms, min(min_ms) as min_ms, max(max_ms) as max_ms
        from api_metrics
       where bucket_start >= ${fromIso}
       group by method, endpoint
       order by endpoint, method`,
    sql<{ method: string; endpoint: string; i: number; n: string }[]>`
      select m.method, m.endpoint, (e.ord - 1)::int as i, sum(e.value::bigint)::text as n
        from api_metrics m
        cross join lateral jsonb_array_elements_text(m.histogram) with ordinality as e(value, ord)
       where m.bucket_start >= ${fromIso}
       group by 1, 2, 3`,
    sql<
      {
        occurred_at: Date | string;
        method: string;
        endpoint: string;
        duration_ms: number;
        target_ms: number;
        status_code: number;
      }[]
    >`
      select occurred_at, method, endpoint, duration_ms, target_ms, status_code
        from performance_issues
       where occurred_at >= ${fromIso}
       order by occurred_at desc
       limit 20`,
  ]);

  const histograms = new Map<string, number[]>();
  for (const bucket of buckets) {
    const key = `${bucket.method} ${bucket.endpoint}`;
    const histogram = histograms.get(key) ?? [];
    histogram[bucket.i] = Number(bucket.n);
    histograms.set(key, histogram);
  }
  const overall: Totals = {
    requests: 0,
    errors: 0,
    clientErrors: 0,
    slow: 0,
    totalMs: 0,
    minMs: Number.POSITIVE_INFINITY,
    maxMs: 0,
    histogram: [],
  };
  const endpoints = rows.map((row) => {
    const histogram = Array.from(
      histograms.get(`${row.method} ${row.endpoint}`) ?? [],
      (n) => n ?? 0,
    );
    const totals: Totals = {
      requests: Number(row.requests),
      errors: Number(row.errors),
      clientErrors: Number(row.client_errors),
      slow: Number(row.slow),
      totalMs: Number(row.total_ms),
      minMs: row.min_ms,
      maxMs: row.max_ms,
      histogram,
    };
    overall.requests += totals.requests;
    overall.errors += totals.errors;
    overall.clientErrors += totals.clientErrors;
    overall.slow += totals.slow;
    overall.totalMs += totals.totalMs;
    overall.minMs = Math.min(overall.minMs, totals.minMs);
    overall.maxMs = Math.max(overall.maxMs, totals.maxMs);
    addHistogram(overall.histogram, histogram);
    return {
      method: row.method,
      endpoint: row.endpoint,
      ...figures(totals, targetFor(targets, `${row.method} ${row.endpoint}`)),
    };
  });
  return {
    window,
    from: from.toISOString(),
    to: new Date(nowMs).toISOString(),
    overall: figures(overall, null),
    endpoints,
    recentSlow: slow.map((s) => ({
      occurredAt: new Date(s.occurred_at).toISOString(),
      method: s.method,
      endpoint: s.endpoint,
      durationMs: s.duration_ms,
      targetMs: s.target_ms,
      statusCode: s.status_code,
    })),
  };
}
