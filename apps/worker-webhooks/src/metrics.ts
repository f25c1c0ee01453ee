import { Counter, Histogram, type Registry } from 'prom-client';
import { HANDLED_EVENT_TYPES } from './handlers/event-types.js';

/** The worker's Prometheus metrics, registered on the process registry served at /metrics. */
export interface WorkerMetrics {
  /** Events finished, by type and outcome: processed, ignored, duplicate (already done). */
  processed: Counter<'type' | 'outcome'>;
  /** Events that went to the failed set: `permanent`, or `exhausted` after the last retry. */
  failed: Counter<'type' | 'reason'>;
  /** Transient failures that will be retried with backoff. */
  retried: Counter<'type'>;
  /**
   * Out-of-order handling: `stale` (a newer write was stored), `superseded_in_batch` (a later
   * event of the same batch won), `tie_content` / `tie_refetched` / `tie_undecidable`.
   */
  ordering: Counter<'type' | 'result'>;
  /** Wall time of one event, parse to commit and invalidation. */
  duration: Histogram<'type'>;
  /** From Stripe's `event.created` to the commit that applied it. */
  lag: Histogram<'type'>;
  /** Post-commit cache invalidations that could not reach Redis (entries then expire by TTL). */
  invalidationFailures: Counter;
  /** Events per committed batch transaction. */
  batchSize: Histogram;
  /** Batches that failed and were split to isolate the failing event. */
  batchSplits: Counter;
  /** Same-second ties by how they were decided: content, refetched, undecidable. */
  ties: Counter<'decision'>;
}

/**
 * The outcomes and reasons each counter is exported with from the start, at 0 per handled
 * event type, so the dashboard's rates read 0 on a healthy system rather than "No data".
 */
const PRESET = {
  processed: { label: 'outcome', values: ['processed', 'ignored', 'duplicate'] },
  failed: { label: 'reason', values: ['permanent', 'exhausted'] },
  ordering: { label: 'result', values: ['stale', 'tie_refetched'] },
} as const;

export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  const metrics = buildWorkerMetrics(registry);
  for (const type of HANDLED_EVENT_TYPES) {
    for (const value of PRESET.processed.values) metrics.processed.inc({ type, outcome: value }, 0);
    for (const value of PRESET.failed.values) metrics.failed.inc({ type, reason: value }, 0);
    for (const value of PRESET.ordering.values) metrics.ordering.inc({ type, result: value }, 0);
    metrics.retried.inc({ type }, 0);
  }
  return metrics;
}

function buildWorkerMetrics(registry: Registry): WorkerMetrics {
  const registers = [registry];
  return {
    processed: new Counter({
      name: 'webhook_events_processed_total',
      help: 'Stripe events finished by the webhook worker, by type and outcome',
      labelNames: ['type', 'outcome'],
      registers,
    }),
    failed: new Counter({
      name: 'webhook_events_failed_total',
      help: 'Stripe events moved to the failed (dead-letter) set',
      labelNames: ['type', 'reason'],
      registers,
    }),
    retried: new Counter({
      name: 'webhook_events_retried_total',
      help: 'Transient failures of Stripe events that will be retried with backoff',
      labelNames: ['type'],
      registers,
    }),
    ordering: new Counter({
      name: 'webhook_events_ordering_total',
      help: 'Out-of-order handling: stale events skipped and same-second ties re-fetched',
      labelNames: ['type', 'result'],
      registers,
    }),
    duration: new Histogram({
      name: 'webhook_event_processing_seconds',
      help: 'Time to process one Stripe event (transaction and invalidation)',
      labelNames: ['type'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    lag: new Histogram({
      name: 'webhook_event_lag_seconds',
      help: 'Seconds from Stripe creating an event to the worker applying it',
      labelNames: ['type'],
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600],
      registers,
    }),
    invalidationFailures: new Counter({
      name: 'webhook_cache_invalidation_failures_total',
      help: 'Post-commit cache invalidations that failed',
      registers,
    }),
    batchSize: new Histogram({
      name: 'webhook_batch_size',
      help: 'Events per committed batch transaction',
      buckets: [1, 2, 5, 10, 25, 50, 100, 200, 500],
      registers,
    }),
    batchSplits: new Counter({
      name: 'webhook_batch_splits_total',
      help: 'Batches split after a failure to isolate the failing event',
      registers,
    }),
    ties: new Counter({
      name: 'webhook_same_second_ties_total',
      help: 'Same-second ties between events about one object, by how they were decided (content, refetched, undecidable)',
      labelNames: ['decision'],
      registers,
    }),
  };
}
