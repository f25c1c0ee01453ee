import { moduleLogger } from '@billing/logger';
import { withTimeout } from '@billing/runtime/timeout';
import type { Queue } from 'bullmq';
import { Counter, Gauge, type Registry } from 'prom-client';

/** The job states reported per queue. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * Registers `billing_queue_jobs{queue,state}`: the number of jobs per queue in each of
 * waiting/active/delayed/failed, read with one `getJobCounts` per queue on every scrape (so
 * the numbers are as fresh as the scrape, and nothing polls Redis between scrapes).
 * A queue whose Redis does not answer keeps its last values and counts a scrape error,
 * rather than failing the whole /metrics response.
 */
export function queueMetrics(registry: Registry, queues: Queue[]): void {
  const log = moduleLogger('queue.metrics');
  const errors = new Counter({
    name: 'billing_queue_metrics_errors_total',
    help: 'Scrapes that could not read the job counts of a queue',
    labelNames: ['queue'],
    registers: [registry],
  });
  // Exported at 0 from the first scrape, so a dashboard shows "no errors", not "no data".
  for (const queue of queues) errors.inc({ queue: queue.name }, 0);
  new Gauge({
    name: 'billing_queue_jobs',
    help: 'Jobs per queue and state (waiting, active, delayed, failed), read on scrape',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      await Promise.all(
        queues.map(async (queue) => {
          try {
            const counts = await withTimeout(queue.getJobCounts(...QUEUE_STATES), 2_000);
            for (const state of QUEUE_STATES) {
              this.set({ queue: queue.name, state }, counts[state] ?? 0);
            }
          } catch (error) {
            errors.inc({ queue: queue.name });
            log.warn({ err: error, queue: queue.name }, 'queue job counts unavailable');
          }
        }),
      );
    },
  });
}
