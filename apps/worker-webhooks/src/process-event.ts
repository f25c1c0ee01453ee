import type { StripeEventPayload } from '@billing/queue';
import { applyBatch, type ProcessDeps, type ProcessOutcome } from './apply-batch.js';

export type { ProcessDeps, ProcessOutcome, ProcessStatus } from './apply-batch.js';

export interface ProcessOptions {
  /** BullMQ will not retry after this attempt: a transient failure is then final too. */
  finalAttempt?: boolean;
}

/**
 * Applies one Stripe event exactly once: a batch of one (`applyBatch`), with the same claim,
 * writes, failure recording and invalidation as the worker's batches. BullMQ-independent:
 * tests, the bench and replays call it directly. Throws what the job would throw: the error
 * for a transient failure (BullMQ retries it), UnrecoverableError for a permanent one.
 */
export async function processStripeEvent(
  deps: ProcessDeps,
  payload: StripeEventPayload,
  options: ProcessOptions = {},
): Promise<ProcessOutcome> {
  const [result] = await applyBatch(deps, [{ payload, finalAttempt: options.finalAttempt }]);
  if (!result) throw new Error('batch returned no result');
  if (!result.ok) throw result.error;
  return result.outcome;
}
