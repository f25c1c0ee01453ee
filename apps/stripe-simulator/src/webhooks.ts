import type { Logger } from '@billing/logger';
import type { SnapshotEvent } from '@billing/stripe-fake';
import { signStripePayload } from '@billing/stripe-fake';

/**
 * Delivers events to one webhook endpoint the way Stripe does: a JSON POST signed with the
 * endpoint's secret (`Stripe-Signature: t=…,v1=…`, re-signed on every attempt), 2xx = done,
 * anything else (or no answer within the timeout) = retry later with exponential backoff.
 * Unlike Stripe (which retries for three days) attempts are bounded; an event that runs out
 * of attempts is reported to `onGiveUp` (the simulator lists it as a failed delivery and can
 * resend it).
 *
 * Events go out in the order they were enqueued, `concurrency` at a time (default 1, so the
 * receiver sees Stripe's order for one change); a retry goes to the back of the queue and
 * does not hold up newer events, as at Stripe.
 */
export interface WebhookSenderOptions {
  url: string;
  secret: string;
  logger: Logger;
  /** Attempts per event, the first included. Default 8 (~2 minutes with the default backoff). */
  maxAttempts?: number;
  /** Delay before attempt `n + 1` after `n` failures. Default 1 s, 2 s, 4 s, … capped at 60 s. */
  backoffMs?: (failures: number) => number;
  /** Per-attempt timeout. Default 10 s. */
  timeoutMs?: number;
  concurrency?: number;
  onDelivered?: (event: SnapshotEvent) => void;
  onGiveUp?: (event: SnapshotEvent) => void;
}

export interface DeliveryAttempt {
  eventId: string;
  type: string;
  attempt: number;
  /** HTTP status; 0 when the request failed (connection refused, timeout). */
  status: number;
  error?: string;
  at: string;
}

export interface WebhookStats {
  url: string;
  queued: number;
  inFlight: number;
  /** Failed at least once and waiting for the next attempt. */
  retrying: number;
  delivered: number;
  /** Ran out of attempts. */
  failed: number;
  attempts: number;
}

interface Pending {
  event: SnapshotEvent;
  failures: number;
}

const RECENT_ATTEMPTS = 200;

export class WebhookSender {
  private readonly queue: Pending[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters = new Set<() => void>();
  private readonly recentAttempts: DeliveryAttempt[] = [];
  private inFlight = 0;
  private retrying = 0;
  private delivered = 0;
  private failed = 0;
  private attempts = 0;
  private closed = false;
  private readonly maxAttempts: number;
  private readonly concurrency: number;
  private readonly backoffMs: (failures: number) => number;
  private readonly timeoutMs: number;
  private readonly log: Logger;

  constructor(private readonly options: WebhookSenderOptions) {
    this.maxAttempts = options.maxAttempts ?? 8;
    this.concurrency = options.concurrency ?? 1;
    this.backoffMs =
      options.backoffMs ?? ((failures) => Math.min(60_000, 1_000 * 2 ** (failures - 1)));
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.log = options.logger;
  }

  get url(): string {
    return this.options.url;
  }

  enqueue(event: SnapshotEvent): void {
    if (this.closed) return;
    this.queue.push({ event, failures: 0 });
    this.pump();
  }

  stats(): WebhookStats {
    return {
      url: this.options.url,
      queued: this.queue.length,
      inFlight: this.inFlight,
      retrying: this.retrying,
      delivered: this.delivered,
      failed: this.failed,
      attempts: this.attempts,
    };
  }

  /** The newest delivery attempts, newest last. */
  attemptLog(): readonly DeliveryAttempt[] {
    return this.recentAttempts;
  }

  /** True when nothing is queued, in flight or waiting for a retry. */
  isIdle(): boolean {
    return this.queue.length === 0 && this.inFlight === 0 && this.retrying === 0;
  }

  /** Resolves when the sender is idle (every event delivered or given up), or after `timeoutMs`. */
  idle(timeoutMs = 30_000): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(onIdle);
        resolve(idle);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.waiters.add(onIdle);
    });
  }

  /** Stops retries and waits (bounded) for the attempts in flight. Queued events are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.retrying = 0;
    this.queue.length = 0;
    const deadline = Date.now() + this.timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.concurrency && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.inFlight++;
      void this.attempt(next).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.isIdle()) for (const waiter of [...this.waiters]) waiter();
      });
    }
  }

  private record(attempt: DeliveryAttempt): void {
    this.attempts++;
    this.recentAttempts.push(attempt);
    if (this.recentAttempts.length > RECENT_ATTEMPTS) this.recentAttempts.shift();
  }

  private async attempt(pending: Pending): Promise<void> {
    const { event } = pending;
    const attemptNumber = pending.failures + 1;
    // Stripe's body: the event as pretty-printed JSON; the signature covers these exact bytes.
    const body = JSON.stringify(event, null, 2);
    let status = 0;
    let error: string | undefined;
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signStripePayload(body, this.options.secret),
        },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.status;
      // Drain the body so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined);
    } catch (caught) {
      error = (caught as Error).message;
    }
    this.record({
      eventId: event.id,
      type: event.type,
      attempt: attemptNumber,
      status,
      ...(error ? { error } : {}),
      at: new Date().toISOString(),
    });
    if (status >= 200 && status < 300) {
      this.delivered++;
      this.log.debug(
        { eventId: event.id, type: event.type, attempt: attemptNumber },
        'webhook delivered',
      );
      this.options.onDelivered?.(event);
      return;
    }
    pending.failures++;
    if (pending.failures >= this.maxAttempts || this.closed) {
      this.failed++;
      this.log.warn(
        { eventId: event.id, type: event.type, attempts: pending.failures, status, reason: error },
        'webhook delivery gave up',
      );
      this.options.onGiveUp?.(event);
      return;
    }
    const delay = this.backoffMs(pending.failures);
    // A first failure is routine (the ingress is still starting, a deploy is rolling): debug.
    // Failing again means the endpoint really is not taking deliveries: warn.
    const level = pending.failures === 1 ? 'debug' : 'warn';
    this.log[level](
      {
        eventId: event.id,
        type: event.type,
        attempt: attemptNumber,
        status,
        reason: error,
        retryInMs: delay,
      },
      'webhook delivery failed; will retry',
    );
    this.retrying++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.retrying--;
      if (this.closed) return;
      this.queue.push(pending);
      this.pump();
    }, delay);
    this.timers.add(timer);
  }
}
