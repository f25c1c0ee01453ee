import { Counter, Histogram, type Registry } from 'prom-client';
import type { VerifyFailure } from './verify.js';

const VERIFY_FAILURES = [
  'missing_signature',
  'invalid_signature_header',
  'invalid_signature',
  'timestamp_outside_tolerance',
] as const satisfies readonly VerifyFailure[];

/** How a webhook delivery ended; the label of `ingress_webhook_requests_total`. */
export const OUTCOMES = [
  'accepted',
  ...VERIFY_FAILURES,
  'unsupported_media_type',
  'unsupported_content_encoding',
  'payload_too_large',
  'incomplete_body',
  'invalid_json',
  'not_an_event',
  'queue_unavailable',
  'queue_timeout',
  'internal',
] as const;
export type Outcome = (typeof OUTCOMES)[number];
// Both ways: a VerifyFailure missing from the list above does not compile.
type MissingFailure = Exclude<VerifyFailure, (typeof VERIFY_FAILURES)[number]>;
const everyFailureListed: [MissingFailure] extends [never] ? true : MissingFailure = true;
void everyFailureListed;

export interface IngressMetrics {
  outcome(outcome: Outcome): void;
  verifyFailure(reason: VerifyFailure): void;
  secretMatched(index: number): void;
  /** Seconds one enqueue took, by result. */
  enqueued(seconds: number, result: 'ok' | 'error' | 'timeout'): void;
}

/**
 * Registers the ingress metrics on `registry` (one per process, or one per test app). Every
 * outcome, failure reason and secret index is exported from the start at 0, so ratios such
 * as "Ingress 5xx ratio" read 0 on a healthy system rather than "No data".
 */
export function createIngressMetrics(registry: Registry, secretCount = 1): IngressMetrics {
  const requests = new Counter({
    name: 'ingress_webhook_requests_total',
    help: 'Webhook deliveries by outcome (accepted, or the error code answered)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const verifyFailures = new Counter({
    name: 'ingress_webhook_verify_failures_total',
    help: 'Deliveries rejected by signature verification, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  const secretMatches = new Counter({
    name: 'ingress_webhook_secret_matches_total',
    help: 'Verified deliveries by index of the STRIPE_WEBHOOK_SECRETS entry that matched; when an old index stays at zero it can be retired',
    labelNames: ['index'],
    registers: [registry],
  });
  const enqueueDuration = new Histogram({
    name: 'ingress_webhook_enqueue_duration_seconds',
    help: 'Time to add a delivery to the stripe-events queue (one Redis round trip), by result',
    labelNames: ['result'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  for (const outcome of OUTCOMES) requests.inc({ outcome }, 0);
  for (const reason of VERIFY_FAILURES) verifyFailures.inc({ reason }, 0);
  for (let index = 0; index < secretCount; index++) secretMatches.inc({ index: String(index) }, 0);
  // The accepted path runs per request: resolve its label children once.
  const accepted = requests.labels('accepted');
  const enqueueOk = enqueueDuration.labels('ok');
  const secretChildren: Counter.Internal[] = [];

  return {
    outcome: (outcome) => (outcome === 'accepted' ? accepted.inc() : requests.inc({ outcome })),
    verifyFailure: (reason) => verifyFailures.inc({ reason }),
    secretMatched: (index) => {
      let child = secretChildren[index];
      if (!child) {
        child = secretMatches.labels(String(index));
        secretChildren[index] = child;
      }
      child.inc();
    },
    enqueued: (seconds, result) =>
      result === 'ok' ? enqueueOk.observe(seconds) : enqueueDuration.observe({ result }, seconds),
  };
}
