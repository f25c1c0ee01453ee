import { apiMetrics, type Database, performanceIssues } from '@billing/db';
import type { Logger } from '@billing/logger';
import { sql } from 'drizzle-orm';
import { Counter, Histogram, type Registry } from 'prom-client';
import { addHistogram, bucketIndex, emptyHistogram } from './histogram.js';
import { type LatencyTargets, targetFor } from './targets.js';

export interface RequestSample {
  method: string;
  /** Route pattern, e.g. `/api/billing/usage`; never the raw URL (unbounded labels). */
  endpoint: string;
  status: number;
  durationMs: number;
  requestId?: string;
  userId?: string;
}

interface MinuteBucket {
  bucketStart: Date;
  method: string;
  endpoint: string;
  requests: number;
  errors: number;
  clientErrors: number;
  slow: number;
  totalMs: number;
  minMs: number;
  maxMs: number;
  histogram: number[];
}

interface SlowRequest {
  occurredAt: Date;
  method: string;
  endpoint: string;
  durationMs: number;
  targetMs: number;
  statusCode: number;
  requestId: string | null;
  userId: string | null;
}

export interface RecorderOptions {
  db: Database;
  logger: Logger;
  registry: Registry;
  targets: LatencyTargets;
  flushIntervalMs: number;
  /** Slow requests kept between flushes; beyond it they are counted, not stored. */
  maxPendingSlow?: number;
  now?: () => number;
}

/**
 * Request timing: every request goes to a Prometheus histogram at once and into per-minute
 * buckets in memory; a background timer writes the buckets to `api_metrics` (additive upsert,
 * so several instances share a row) and slow requests to `performance_issues`. The request
 * path never waits for a database write.
 */
export class RequestRecorder {
  private buckets = new Map<string, MinuteBucket>();
  private slow: SlowRequest[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly maxPendingSlow: number;
  private readonly duration: Histogram<'method' | 'endpoint' | 'status'>;
  private readonly slowTotal: Counter<'endpoint'>;
  private readonly dropped: Counter;
  private readonly flushFailures: Counter;

  constructor(private readonly options: RecorderOptions) {
    this.log = options.logger.child({ module: 'request-recorder' });
    this.now = options.now ?? Date.now;
    this.maxPendingSlow = options.maxPendingSlow ?? 5_000;
    const registers = [options.registry];
    this.duration = new Histogram({
      name: 'api_request_duration_seconds',
      help: 'API request duration by route pattern and status class',
      labelNames: ['method', 'endpoint', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
      registers,
    });
    this.slowTotal = new Counter({
      name: 'api_slow_requests_total',
      help: 'Requests slower than their endpoint target',
      labelNames: ['endpoint'],
      registers,
    });
    // The endpoints that have their own target start at 0 (request count, successful
    // requests, slow requests), so an idle API's panels read 0 instead of "No data".
    for (const target of Object.keys(options.targets.byEndpoint)) {
      const space = target.indexOf(' ');
      const endpoint = target.slice(space + 1);
      this.duration.zero({ method: target.slice(0, space), endpoint, status: '2xx' });
      this.slowTotal.inc({ endpoint }, 0);
    }
    this.dropped = new Counter({
      name: 'api_slow_requests_dropped_total',
      help: 'Slow requests not stored in performance_issues because the pending batch was full',
      registers,
    });
    this.flushFailures = new Counter({
      name: 'api_metrics_flush_failures_total',
      help: 'Background writes of api_metrics / performance_issues that failed (retried next time)',
      registers,
    });
  }

  record(sample: RequestSample): void {
    const statusClass = `${Math.floor(sample.status / 100)}xx`;
    this.duration.observe(
      { method: sample.method, endpoint: sample.endpoint, status: statusClass },
      sample.durationMs / 1000,
    );
    const at = this.now();
    const minute = Math.floor(at / 60_000) * 60_000;
    const key = `${minute}|${sample.method}|${sample.endpoint}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = {
        bucketStart: new Date(minute),
        method: sample.method,
        endpoint: sample.endpoint,
        requests: 0,
        errors: 0,
        clientErrors: 0,
        slow: 0,
        totalMs: 0,
        minMs: Number.POSITIVE_INFINITY,
        maxMs: 0,
        histogram: emptyHistogram(),
      };
      this.buckets.set(key, bucket);
    }
    const ms = Math.max(0, Math.round(sample.durationMs));
    bucket.requests += 1;
    if (sample.status >= 500) bucket.errors += 1;
    else if (sample.status >= 400) bucket.clientErrors += 1;
    bucket.totalMs += ms;
    bucket.minMs = Math.min(bucket.minMs, ms);
    bucket.maxMs = Math.max(bucket.maxMs, ms);
    const index = bucketIndex(ms);
    bucket.histogram[index] = (bucket.histogram[index] ?? 0) + 1;

    const targetMs = targetFor(this.options.targets, `${sample.method} ${sample.endpoint}`);
    if (ms > targetMs) {
      bucket.slow += 1;
      this.slowTotal.inc({ endpoint: sample.endpoint });
      if (this.slow.length >= this.maxPendingSlow) {
        this.dropped.inc();
      } else {
        this.slow.push({
          occurredAt: new Date(at),
          method: sample.method,
          endpoint: sample.endpoint,
          durationMs: ms,
          targetMs,
          statusCode: sample.status,
          requestId: sample.requestId ?? null,
          userId: sample.userId ?? null,
        });
      }
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Writes what has accumulated. Concurrent calls share one write; failures are retried next time. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    if (this.buckets.size === 0 && this.slow.length === 0) return Promise.resolve();
    const buckets = [...this.buckets.values()];
    const slow = this.slow;
    this.buckets = new Map();
    this.slow = [];
    this.flushing = this.write(buckets, slow)
      .catch((error) => {
        this.flushFailures.inc();
        this.log.warn(
          { reason: (error as Error).message },
          'request metrics flush failed; will retry',
        );
        this.restore(buckets, slow);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async write(buckets: MinuteBucket[], slow: SlowRequest[]): Promise<void> {
    const { db } = this.options;
    if (buckets.length > 0) {
      await db
        .insert(apiMetrics)
        .values(
          buckets.map((b) => ({
            bucketStart: b.bucketStart,
            method: b.method,
            endpoint: b.endpoint,
            requests: b.requests,
            errors: b.errors,
            clientErrors: b.clientErrors,
            slow: b.slow,
            totalMs: b.totalMs,
            minMs: b.minMs,
            maxMs: b.maxMs,
            histogram: b.histogram,
          })),
        )
        .onConflictDoUpdate({
          target: [apiMetrics.bucketStart, apiMetrics.method, apiMetrics.endpoint],
          set: {
            requests: sql`${apiMetrics.requests} + excluded.requests`,
            errors: sql`${apiMetrics.errors} + excluded.errors`,
            clientErrors: sql`${apiMetrics.clientErrors} + excluded.client_errors`,
            slow: sql`${apiMetrics.slow} + excluded.slow`,
            totalMs: sql`${apiMetrics.totalMs} + excluded.total_ms`,
            minMs: sql`least(${apiMetrics.minMs}, excluded.min_ms)`,
            maxMs: sql`greatest(${apiMetrics.maxMs}, excluded.max_ms)`,
            // Element-wise sum of the two bucket arrays.
            histogram: sql`(
              select coalesce(jsonb_agg(coalesce(a.v, 0) + coalesce(b.v, 0) order by coalesce(a.i, b.i)), '[]'::jsonb)
              from (select value::bigint as v, ord as i
                    from jsonb_array_elements_text(${apiMetrics.histogram}) with ordinality as t(value, ord)) a
              full join (select value::bigint as v, ord as i
                    from jsonb_array_elements_text(excluded.histogram) with ordinality as t(value, ord)) b
                on a.i = b.i
            )`,
          },
        });
    }
    if (slow.length > 0) {
      await db.insert(performanceIssues).values(slow);
    }
  }

  /** Puts a failed batch back so the next flush retries it (slow requests stay bounded). */
  private restore(buckets: MinuteBucket[], slow: SlowRequest[]): void {
    for (const b of buckets) {
      const key = `${b.bucketStart.getTime()}|${b.method}|${b.endpoint}`;
      const current = this.buckets.get(key);
      if (!current) {
        this.buckets.set(key, b);
        continue;
      }
      current.requests += b.requests;
      current.errors += b.errors;
      current.clientErrors += b.clientErrors;
      current.slow += b.slow;
      current.totalMs += b.totalMs;
      current.minMs = Math.min(current.minMs, b.minMs);
      current.maxMs = Math.max(current.maxMs, b.maxMs);
      addHistogram(current.histogram, b.histogram);
    }
    const room = Math.max(0, this.maxPendingSlow - this.slow.length);
    if (slow.length > room) this.dropped.inc(slow.length - room);
    this.slow = [...slow.slice(0, room), ...this.slow];
  }
}
