/** Settles one submitted item: its value, or the error its caller must see. */
export type Settled<R> = { ok: true; outcome: R } | { ok: false; error: unknown };

export interface BatcherOptions {
  /** A batch is sent as soon as it holds this many items (WEBHOOK_BATCH_SIZE). */
  size: number;
  /** …or this long after its first item arrived (WEBHOOK_BATCH_WINDOW_MS). */
  windowMs: number;
  /** Batches being applied at once (WEBHOOK_BATCHES_IN_FLIGHT); more wait and grow. */
  inFlight: number;
}

interface Pending<I, R> {
  item: I;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/**
 * Group commit: collects the items of many concurrent jobs into batches and hands each batch
 * to `apply` (one transaction). Each submit's promise settles when its batch has been
 * applied. A lone item waits at most `windowMs`. While every slot is busy, items keep
 * collecting (up to `size` per batch), so a loaded worker sends full batches and an idle one
 * sends small ones quickly.
 */
export class Batcher<I, R> {
  private pending: Pending<I, R>[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private due = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly apply: (items: I[]) => Promise<Settled<R>[]>,
    private readonly options: BatcherOptions,
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.options.size) this.due = true;
      else if (!this.timer && !this.due) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.due = true;
          this.pump();
        }, this.options.windowMs);
      }
      this.pump();
    });
  }

  /** Resolves once nothing is pending or running (for shutdown and tests). */
  drained(): Promise<void> {
    if (this.pending.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.due && this.pending.length > 0 && this.running < this.options.inFlight) {
      const batch = this.pending.splice(0, this.options.size);
      if (this.pending.length < this.options.size) {
        // What is left starts a new window (or is sent at once when a batch is already full).
        this.due = false;
        clearTimeout(this.timer);
        this.timer = undefined;
        if (this.pending.length > 0) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.due = true;
            this.pump();
          }, this.options.windowMs);
        }
      }
      this.running += 1;
      void this.run(batch);
    }
  }

  private async run(batch: Pending<I, R>[]): Promise<void> {
    try {
      const settled = await this.apply(batch.map((p) => p.item));
      batch.forEach((p, i) => {
        const s = settled[i];
        if (s?.ok) p.resolve(s.outcome);
        else p.reject(s ? s.error : new Error('batch returned no result for an item'));
      });
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      this.running -= 1;
      // A batch that was already full while every slot was busy goes now.
      if (this.pending.length >= this.options.size) this.due = true;
      this.pump();
      if (this.pending.length === 0 && this.running === 0) {
        for (const resolve of this.idle.splice(0)) resolve();
      }
    }
  }
}
