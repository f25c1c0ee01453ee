import { addJob, type StripeEventPayload } from '@billing/queue';
import { withTimeout } from '@billing/runtime/timeout';
import type { Queue } from 'bullmq';

/** Stripe's two webhook payload shapes, each with its own job in the catalog. */
export type EventJobName = 'stripe.event' | 'stripe.thin-event';

export interface Delivery {
  job: EventJobName;
  payload: StripeEventPayload;
}

/** The enqueue did not finish: 'timeout' (Redis slow) or 'error' (Redis down, or refused it). */
export class EnqueueError extends Error {
  constructor(
    readonly kind: 'timeout' | 'error',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EnqueueError';
  }
}

export interface Enqueuer {
  /**
   * Resolves once Redis holds the job (or already held one with this event id: BullMQ's
   * add script then returns the existing id without writing). Rejects with EnqueueError.
   */
  enqueue(delivery: Delivery): Promise<void>;
}

/**
 * One `queue.add` per delivery: a single Lua script (EVALSHA) that checks the job id and
 * writes the job hash, the wait-list entry and the event atomically, so a job is either
 * fully there or not at all. Batching across requests would save little over one round trip
 * and would couple unrelated deliveries' latency, so it is not done.
 *
 * The timeout bounds how long Stripe waits. If it fires while the script is still queued on
 * a slow Redis, the script may still run afterwards: the job is then complete (never
 * partial), and Stripe's retry of the 503'd delivery is a duplicate that changes nothing.
 */
export function createEnqueuer(
  queue: Queue,
  options: {
    timeoutMs: number;
    onDuration?: (seconds: number, result: 'ok' | 'error' | 'timeout') => void;
  },
): Enqueuer {
  const { timeoutMs, onDuration } = options;
  return {
    async enqueue({ job, payload }) {
      const started = performance.now();
      let result: 'ok' | 'error' | 'timeout' = 'ok';
      try {
        await withTimeout(
          addJob(queue, job, payload, { jobId: payload.eventId }),
          timeoutMs,
          () => new EnqueueError('timeout', `enqueue did not finish within ${timeoutMs} ms`),
        );
      } catch (error) {
        if (error instanceof EnqueueError) {
          result = 'timeout';
          throw error;
        }
        result = 'error';
        throw new EnqueueError('error', `enqueue failed: ${(error as Error).message}`, {
          cause: error,
        });
      } finally {
        onDuration?.((performance.now() - started) / 1000, result);
      }
    },
  };
}
